"""Reading and writing Muskie weights.

Two formats:

- ours: a directory with ``model.safetensors`` (the state_dict) and ``config.json``
  (:meth:`MuskieConfig.to_dict`); no pickle involved.
- the release's: a PyTorch ``.pth`` file holding either a bare state_dict or a training checkpoint dict
  whose ``model`` entry is the state_dict (names and shapes in brief section 2). It is read with
  ``torch.load(weights_only=True)``; the release's training checkpoints also pickle an argparse namespace,
  which that refuses, and only an explicit ``allow_pickle=True`` (for files the user trusts) unpickles it.
  The model config is inferred from the tensor shapes.

Loading is strict: missing, unexpected or mis-shaped keys raise a ValueError naming the file and the keys.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from muskie.model.config import PRESETS, MuskieConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# The pre-training pixel head: present in checkpoints, absent from a bare backbone.
HEAD_PREFIXES = ("decoder_norm.", "decoder_pred.")

_LISTED_KEYS = 8  # keys named per kind of mismatch in an error message


def read_checkpoint(path: str | os.PathLike, allow_pickle: bool = False) -> tuple[MuskieConfig, dict]:
    """Read weights in either format: ``(config, state_dict)`` with tensors on the CPU.

    ``path``: one of our directories, a ``.safetensors`` file, or a released ``.pth`` file.
    ``allow_pickle``: let ``torch.load`` unpickle arbitrary objects (runs code from the file: only for
    files you trust); a warning is issued when used.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or directory")
    if path.is_dir():
        return _read_directory(path)
    if path.suffix == ".safetensors":
        state_dict = _read_safetensors(path)
    else:
        state_dict = _read_torch_file(path, allow_pickle)
    return infer_config(state_dict, source=str(path)), state_dict


def infer_config(state_dict: dict, source: str = "state_dict") -> MuskieConfig:
    """The config of a released-style state_dict, from its tensor shapes.

    Width and patch size come from ``patch_embed.proj.weight``, depth from the block indices, MLP ratio
    from ``fc1`` and the register count from ``register_tokens``; heads are not visible in the shapes and
    come from the preset of the same width.
    """
    required = ("patch_embed.proj.weight", "register_tokens", "blocks.0.frame_mlp.fc1.weight")
    missing = [key for key in required if key not in state_dict]
    if missing:
        raise ValueError(f"{source}: not a Muskie state_dict (no {', '.join(missing)})")
    shapes = {key: tuple(state_dict[key].shape) for key in required}
    if len(shapes["patch_embed.proj.weight"]) != 4 or len(shapes["register_tokens"]) != 4:
        raise ValueError(f"{source}: not a Muskie state_dict (unexpected shapes {shapes})")
    embed_dim, _, patch_size, _ = shapes["patch_embed.proj.weight"]
    heads = {c.embed_dim: c.num_heads for c in PRESETS.values()}
    if embed_dim not in heads:
        raise ValueError(
            f"{source}: width {embed_dim} matches no preset ({', '.join(f'{w}' for w in sorted(heads))}), so the "
            f"number of heads is unknown; save the model with save_pretrained to keep its config"
        )
    block_ids = {int(m.group(1)) for key in state_dict if (m := re.match(r"blocks\.(\d+)\.", key))}
    hidden = state_dict["blocks.0.frame_mlp.fc1.weight"].shape[0]
    return MuskieConfig(
        embed_dim=int(embed_dim),
        depth=max(block_ids) + 1,
        num_heads=heads[embed_dim],
        patch_size=int(patch_size),
        mlp_ratio=hidden / embed_dim,
        num_registers=int(state_dict["register_tokens"].shape[2]),
    )


def load_into(model: nn.Module, state_dict: dict, source: str) -> None:
    """Load ``state_dict`` into ``model`` strictly, after checking every key and shape.

    A model without the pixel head (a bare backbone) takes a checkpoint's head keys silently; any other
    difference raises a ValueError naming ``source`` and the offending keys.
    """
    expected = model.state_dict()
    if not any(key.startswith(HEAD_PREFIXES) for key in expected):
        state_dict = {k: t for k, t in state_dict.items() if not k.startswith(HEAD_PREFIXES)}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(t.shape)}"
        for k, t in expected.items()
        if k in state_dict and state_dict[k].shape != t.shape
    ]
    problems = [
        f"{label} ({len(keys)}): {', '.join(keys[:_LISTED_KEYS])}{', ...' if len(keys) > _LISTED_KEYS else ''}"
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
        if keys
    ]
    if problems:
        raise ValueError(f"{source}: checkpoint does not fit the model ({describe(model.config)}): " + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def describe(config: MuskieConfig) -> str:
    """A short human description of a config's shape, for messages."""
    return (
        f"width {config.embed_dim}, {config.depth} AA blocks, {config.num_heads} heads, "
        f"patch {config.patch_size}, MLP ratio {config.mlp_ratio:g}, {config.num_registers} registers"
    )


def save_pretrained(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``model`` (a Muskie or backbone with a ``config``) as ``directory/{model.safetensors, config.json}``.

    Each file is written under a temporary name and renamed, so an interrupted save leaves no half file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state_dict = {k: t.detach().contiguous().cpu() for k, t in model.state_dict().items()}
    weights_tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(state_dict, str(weights_tmp), metadata={"format": "pt"})
    config_tmp = directory / (CONFIG_FILE + ".tmp")
    config_tmp.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    os.replace(weights_tmp, directory / WEIGHTS_FILE)
    os.replace(config_tmp, directory / CONFIG_FILE)
    return directory


def _read_directory(directory: Path) -> tuple[MuskieConfig, dict]:
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed}: missing; a Muskie directory holds {WEIGHTS_FILE} and {CONFIG_FILE}")
    try:
        config = MuskieConfig.from_dict(json.loads(config_path.read_text()))
    except (json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{config_path}: invalid config: {err}") from None
    return config, _read_safetensors(weights_path)


def _read_safetensors(path: Path) -> dict:
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own error types for truncated or foreign files
        raise ValueError(f"{path}: cannot read safetensors weights ({err})") from None


def _read_torch_file(path: Path, allow_pickle: bool) -> dict:
    if allow_pickle:
        warnings.warn(
            f"{path}: loading with weights_only=False; this runs code stored in the file, "
            f"so do it only for files from a source you trust",
            stacklevel=3,
        )
    try:
        content = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as err:
        if not allow_pickle and "Weights only load failed" in str(err):
            raise ValueError(
                f"{path}: the file holds pickled Python objects besides tensors (the release's training "
                f"checkpoints pickle their argparse arguments) and was not loaded. If you trust its source, "
                f"pass allow_pickle=True (CLI: --allow-pickle)"
            ) from None
        raise ValueError(f"{path}: cannot read the checkpoint ({err})") from None
    except Exception as err:  # torch.load raises many types for truncated or foreign files
        raise ValueError(f"{path}: cannot read the checkpoint, the file may be truncated or not a PyTorch file ({err})") from None
    if isinstance(content, dict) and isinstance(content.get("model"), dict):
        content = content["model"]
    if not isinstance(content, dict) or not content:
        raise ValueError(f"{path}: expected a state_dict or a dict with a 'model' state_dict, got {type(content).__name__}")
    not_tensors = sorted(str(k) for k, t in content.items() if not isinstance(t, torch.Tensor))
    if not_tensors:
        raise ValueError(f"{path}: not a state_dict, these entries are not tensors: {', '.join(not_tensors[:_LISTED_KEYS])}")
    return content
