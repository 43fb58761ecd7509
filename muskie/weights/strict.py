"""Strict loading: a file's config is checked against its tensors, and a model against the file, before
anything large is allocated; every mismatch is a ValueError naming the file and the keys.

The checks run in this order, so that a damaged or crafted file (a state_dict claiming ``blocks.100000.*``,
a ``config.json`` claiming a huge width) is refused before any model exists:

1. :func:`check_config_fits`: the counts and widths a config asks for against the tensor shapes;
2. :func:`build_and_load`: the model built on the ``meta`` device (no memory) and compared key by key and
   shape by shape with the file; only then built for real and loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from muskie.weights.release import HEAD_PREFIXES, LISTED_KEYS, block_indices

ModelT = TypeVar("ModelT", bound=nn.Module)

# The peer models of muskie.peers: a frame-wise backbone under ``encoder.``, a decoder under ``decoder.``.
PEER_CLASSES = ("MAEModel", "MuMModel", "CroCoModel")


def check_config_fits(model_class: str, model_config: dict, state_dict: dict, source: str) -> None:
    """Refuse a config whose block counts or widths differ from the tensors of ``state_dict``.

    Knows the Muskie backbone's layout (brief section 2), on its own (``Muskie``, ``MuskieBackbone``),
    under ``backbone.`` with new blocks after it (``ReconModel``; or a published ViT under ``backbone.vit.``,
    its config under ``encoder.vit``), or under ``encoder.`` with a decoder of ``decoder.blocks.N`` (the peer
    models); other classes are left to the model comparison of :func:`build_and_load`.
    """
    if not isinstance(model_config, dict):
        raise ValueError(f"{source}: the model config is not a mapping but {type(model_config).__name__}")
    problems: list[str] = []
    if model_class in ("Muskie", "MuskieBackbone"):
        problems += _backbone_problems(model_config, state_dict, source, prefix="")
    elif model_class == "ReconModel":
        backbone, encoder, head = model_config.get("backbone"), model_config.get("encoder"), model_config.get("head")
        if isinstance(encoder, dict) and isinstance(encoder.get("vit"), dict):
            problems += _vit_problems(encoder["vit"], state_dict, source, prefix="backbone.vit.")
        elif isinstance(backbone, dict):
            problems += _backbone_problems(backbone, state_dict, source, prefix="backbone.")
        else:
            raise ValueError(f"{source}: a ReconModel config needs a 'backbone' or 'encoder' mapping")
        if isinstance(head, dict):
            problems += _count_problems(head.get("new_blocks"), "new_blocks", state_dict, "blocks.", source)
    elif model_class in PEER_CLASSES:
        encoder, decoder = model_config.get("encoder"), model_config.get("decoder")
        if not isinstance(encoder, dict) or not isinstance(decoder, dict):
            raise ValueError(f"{source}: a {model_class} config needs 'encoder' and 'decoder' mappings")
        problems += _backbone_problems(encoder, state_dict, source, prefix="encoder.")
        problems += _count_problems(decoder.get("depth"), "decoder depth", state_dict, "decoder.blocks.", source)
        embed = state_dict.get("decoder.embed.weight")
        if embed is not None and "dim" in decoder and decoder["dim"] != embed.shape[0]:
            problems.append(f"decoder dim {decoder['dim']!r} but the weights have {embed.shape[0]}")
    if problems:
        raise ValueError(f"{source}: the config does not fit the weights ({'; '.join(problems)}); no model was built")


def _backbone_problems(config: dict, state_dict: dict, source: str, prefix: str) -> list[str]:
    patch_key, register_key = f"{prefix}patch_embed.proj.weight", f"{prefix}register_tokens"
    missing = [key for key in (patch_key, register_key) if key not in state_dict]
    if missing:
        raise ValueError(f"{source}: not a Muskie state_dict (no {', '.join(missing)})")
    patch, registers = tuple(state_dict[patch_key].shape), tuple(state_dict[register_key].shape)
    if len(patch) != 4 or len(registers) != 4:
        raise ValueError(
            f"{source}: not a Muskie state_dict (unexpected shapes {patch_key} {patch}, {register_key} {registers})"
        )
    found = {"embed_dim": patch[0], "patch_size": patch[2], "num_registers": registers[2]}
    problems = [
        f"{name} {config[name]!r} but the weights have {value}"
        for name, value in found.items()
        if name in config and config[name] != value
    ]
    problems += _count_problems(config.get("depth"), "depth", state_dict, f"{prefix}blocks.", source)
    fc1 = state_dict.get(f"{prefix}blocks.0.frame_mlp.fc1.weight")
    ratio = config.get("mlp_ratio")
    if fc1 is not None and isinstance(ratio, (int, float)) and not problems:
        if int(patch[0] * ratio) != fc1.shape[0]:
            problems.append(f"mlp_ratio {ratio!r} but the weights have an MLP of {fc1.shape[0]} for width {patch[0]}")
    return problems


def _vit_problems(config: dict, state_dict: dict, source: str, prefix: str) -> list[str]:
    """A published ViT's width, patch size and depth (``PlainViTConfig`` fields) against its tensors."""
    patch_key = f"{prefix}patch_embed.weight"
    patch = state_dict.get(patch_key)
    if patch is None or patch.dim() != 4:
        raise ValueError(f"{source}: not the state_dict of a ViT encoder (no 4-D {patch_key})")
    found = {"dim": patch.shape[0], "patch_size": patch.shape[2]}
    problems = [
        f"encoder {name} {config[name]!r} but the weights have {value}"
        for name, value in found.items()
        if name in config and config[name] != value
    ]
    return problems + _count_problems(config.get("depth"), "encoder depth", state_dict, f"{prefix}blocks.", source)


def _count_problems(count, name: str, state_dict: dict, prefix: str, source: str) -> list[str]:
    indices = sorted(block_indices(state_dict, prefix))
    if indices != list(range(len(indices))):
        shown = ", ".join(map(str, indices[:LISTED_KEYS])) + (", ..." if len(indices) > LISTED_KEYS else "")
        raise ValueError(
            f"{source}: the {prefix}N.* keys number blocks {shown}, not 0 to {len(indices) - 1}: "
            f"the file is damaged or not a muskie file"
        )
    if count is not None and count != len(indices):
        return [f"{name} {count!r} but the weights have {len(indices)} blocks"]
    return []


def describe(config: dict) -> str:
    """A short human description of a model config dict (a ``MuskieConfig.to_dict()`` or one holding
    such a backbone config), for messages."""
    if "embed_dim" in config:
        ratio = config.get("mlp_ratio", "?")
        return (
            f"width {config['embed_dim']}, {config.get('depth', '?')} AA blocks, {config.get('num_heads', '?')} "
            f"heads, patch {config.get('patch_size', '?')}, MLP ratio "
            f"{f'{ratio:g}' if isinstance(ratio, (int, float)) else ratio}, {config.get('num_registers', '?')} "
            f"registers"
        )
    if isinstance(config.get("vit"), dict):  # a published ViT as a reconstruction encoder
        vit = config["vit"]
        return (
            f"{config.get('family', '?')} ViT of width {vit.get('dim', '?')}, {vit.get('depth', '?')} blocks, "
            f"{vit.get('num_heads', '?')} heads, patch {vit.get('patch_size', '?')} (from {config.get('source', '?')})"
        )
    parts = [
        f"{key} ({describe(value)})"
        for key, value in config.items()
        if isinstance(value, dict) and ("embed_dim" in value or isinstance(value.get("vit"), dict))
    ]
    return ", ".join(parts) or "config " + ", ".join(map(str, config))


def describe_model(model: nn.Module) -> str:
    """:func:`describe` of a model's ``config_dict()``, naming the class unless it is a Muskie backbone."""
    config = model.config_dict() if callable(getattr(model, "config_dict", None)) else None
    if not isinstance(config, dict):
        return type(model).__name__
    text = describe(config)
    return text if "embed_dim" in config else f"{type(model).__name__}: {text}"


def check_fits(model: nn.Module, state_dict: dict, source: str) -> dict:
    """The part of ``state_dict`` that ``model`` takes, after checking every key and shape (a model on
    the ``meta`` device will do: only shapes are read).

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
        f"{label} ({len(keys)}): {', '.join(keys[:LISTED_KEYS])}{', ...' if len(keys) > LISTED_KEYS else ''}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if keys
    ]
    if problems:
        raise ValueError(
            f"{source}: checkpoint does not fit the model ({describe_model(model)}): " + "; ".join(problems)
        )
    return state_dict


def load_into(model: nn.Module, state_dict: dict, source: str) -> None:
    """Load ``state_dict`` into ``model`` strictly, after :func:`check_fits`."""
    model.load_state_dict(check_fits(model, state_dict, source), strict=True)


def build_and_load(
    build: Callable[[], ModelT], state_dict: dict, source: str, config_source: str | None = None
) -> ModelT:
    """``build()`` loaded strictly with ``state_dict``, refused before any memory is spent when it does not fit.

    ``build`` is called twice: first on the ``meta`` device, whose model is compared with the file
    (:func:`check_fits`), then for real. ``config_source``: where the config ``build`` uses came from;
    when given, a ValueError of ``build`` (an invalid config) is reported as that file's.
    """
    try:
        with torch.device("meta"):
            skeleton = build()
    except ValueError as err:
        if config_source is None:
            raise
        raise ValueError(f"{config_source}: invalid config: {err}") from None
    check_fits(skeleton, state_dict, source)
    model = build()
    load_into(model, state_dict, source)
    return model
