"""The release's weights files, and the Muskie config their tensor shapes imply.

A released file is a PyTorch ``.pth`` holding either a bare state_dict or a training checkpoint dict whose
``model`` entry is the state_dict (names and shapes in brief section 2). It is read with
``torch.load(weights_only=True)``; the release's training checkpoints also pickle an argparse namespace,
which that refuses, and only an explicit ``allow_pickle=True`` (for files the user trusts) unpickles it.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from muskie.constants import PRESET_SIZES

# The pre-training pixel head: present in checkpoints, absent from a bare backbone.
HEAD_PREFIXES = ("decoder_norm.", "decoder_pred.")

LISTED_KEYS = 8  # keys named per kind of problem in an error message


def read_torch_file(path: str | os.PathLike, allow_pickle: bool = False) -> Any:
    """The content of a ``torch.save`` file, on the CPU.

    ``allow_pickle``: let ``torch.load`` unpickle arbitrary objects (runs code from the file: only for
    files you trust); a warning is issued when used. Without it a file holding pickled objects is a
    ValueError saying so.
    """
    path = Path(path)
    if allow_pickle:
        warnings.warn(
            f"{path}: loading with weights_only=False; this runs code stored in the file, "
            f"so do it only for files from a source you trust",
            stacklevel=3,
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as err:
        if not allow_pickle and "Unsupported global" in str(err):
            raise ValueError(
                f"{path}: the file holds pickled Python objects besides tensors (the release's training "
                f"checkpoints pickle their argparse arguments) and was not loaded. If you trust its source, "
                f"pass allow_pickle=True (CLI: --allow-pickle)"
            ) from None
        raise ValueError(
            f"{path}: cannot read the checkpoint, the file may be truncated or not a PyTorch file"
        ) from None
    except Exception as err:  # torch.load raises many types for truncated or foreign files
        raise ValueError(
            f"{path}: cannot read the checkpoint, the file may be truncated or not a PyTorch file ({err})"
        ) from None


def release_state_dict(content: Any, source: str) -> dict[str, torch.Tensor]:
    """The state_dict of a released file's content: the content itself or its ``model`` entry."""
    if isinstance(content, dict) and isinstance(content.get("model"), dict):
        content = content["model"]
    if not isinstance(content, dict) or not content:
        raise ValueError(
            f"{source}: expected a state_dict or a dict with a 'model' state_dict, got {type(content).__name__}"
        )
    not_tensors = sorted(str(k) for k, t in content.items() if not isinstance(t, torch.Tensor))
    if not_tensors:
        raise ValueError(
            f"{source}: not a state_dict, these entries are not tensors: {', '.join(not_tensors[:LISTED_KEYS])}"
        )
    return content


def block_indices(state_dict: dict, prefix: str = "blocks.") -> set[int]:
    """The ``i`` of every ``{prefix}{i}.*`` key."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return {int(m.group(1)) for key in state_dict if (m := pattern.match(key))}


def infer_config(state_dict: dict, source: str = "state_dict") -> dict:
    """The Muskie config (a ``MuskieConfig.to_dict()``-style dict, defaults left out) of a released-style
    state_dict, from its tensor shapes.

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
    heads = {size["embed_dim"]: size["num_heads"] for size in PRESET_SIZES.values()}
    if embed_dim not in heads:
        raise ValueError(
            f"{source}: width {embed_dim} matches no preset ({', '.join(f'{w}' for w in sorted(heads))}), so the "
            f"number of heads is unknown; save the model with save_pretrained to keep its config"
        )
    hidden = state_dict["blocks.0.frame_mlp.fc1.weight"].shape[0]
    return {
        "embed_dim": int(embed_dim),
        "depth": max(block_indices(state_dict)) + 1,
        "num_heads": heads[embed_dim],
        "patch_size": int(patch_size),
        "mlp_ratio": hidden / embed_dim,
        "num_registers": int(state_dict["register_tokens"].shape[2]),
    }
