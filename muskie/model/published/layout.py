"""Reading the weights files other projects publish, and checking their key layout before anything is built.

A published file is read once with ``torch.load(weights_only=True)`` (``muskie.weights.release``): no code
from the file runs and nothing is downloaded. :class:`LayoutCheck` then looks up every tensor a reader needs
by its published name and shape, so a foreign or mismatched file fails with one message naming the file
before any model is allocated; :func:`load_checked` fills a model built on the meta device with the checked
tensors, so loading takes no memory beyond the file's own tensors (converted to float32).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from muskie.weights.release import LISTED_KEYS, read_torch_file

# Width -> the size letter of the published ViTs (DINOv2, DINOv3, MAE, CroCo share these names).
SIZE_NAMES = {384: "S", 768: "B", 1024: "L", 1280: "H", 1536: "g", 4096: "7B"}


def read_published(path: str | os.PathLike, family: str) -> dict[str, Any]:
    """The dict a published ``.pth`` holds (a state_dict, or a dict around one), read without unpickling.

    Raises FileNotFoundError for a missing file, ValueError naming the file for one that is not a PyTorch
    file of tensors and plain values, or not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {family} weights file")
    content = read_torch_file(path)
    if not isinstance(content, dict) or not content:
        raise ValueError(
            f"{path}: not a {family} weights file (expected a dict of tensors, got {type(content).__name__})"
        )
    return content


def block_count(state_dict: dict, prefix: str, source: str, family: str) -> int:
    """The number of ``{prefix}{i}.`` blocks, checked to be numbered ``0 .. n-1`` and at least one."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for key in state_dict if isinstance(key, str) and (m := pattern.match(key))}
    if not indices:
        raise ValueError(f"{source}: not a {family} state_dict (no {prefix}0.* keys)")
    if indices != set(range(len(indices))):
        missing = sorted(set(range(max(indices) + 1)) - indices)
        raise ValueError(
            f"{source}: {family} blocks are not numbered 0..{max(indices)} (missing {missing[:LISTED_KEYS]})"
        )
    return len(indices)


def size_name(dim: int, patch_size: int) -> str:
    """``"ViT-B/16"`` style name of a published width, ``"ViT-<dim>/<p>"`` for others."""
    return f"ViT-{SIZE_NAMES.get(dim, dim)}/{patch_size}"


class LayoutCheck:
    """Looks up a published state_dict's tensors by name and shape; every mismatch is a ValueError naming
    the file and the key.

    Args:
        state_dict: the file's tensors by published name.
        source: the file, for messages; family: e.g. ``"DINOv2"``, for messages.
    """

    def __init__(self, state_dict: dict, source: str, family: str):
        self.state_dict = state_dict
        self.source = source
        self.family = family
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.state_dict

    def tensor(self, key: str, shape: Iterable[int | None]) -> torch.Tensor:
        """The floating-point tensor ``key`` of ``shape`` (None: any size on that axis)."""
        if key not in self.state_dict:
            raise ValueError(f"{self.source}: not a {self.family} state_dict in the published layout (no {key!r})")
        value = self.state_dict[key]
        shape = tuple(shape)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError(f"{self.source}: {key} is not a floating-point tensor")
        if value.dim() != len(shape) or any(s is not None and s != n for s, n in zip(shape, value.shape, strict=True)):
            shown = "x".join("*" if s is None else str(s) for s in shape)
            raise ValueError(
                f"{self.source}: {key} has shape {tuple(value.shape)}, expected ({shown}) for this {self.family} layout"
            )
        if not torch.isfinite(value).all():
            raise ValueError(f"{self.source}: {key} holds NaN or infinite values")
        self.used.add(key)
        return value

    def finish(self, ignored: Callable[[str], bool] = lambda key: False) -> None:
        """Refuse keys that were neither read nor are ``ignored`` (parts the features do not use, such as a
        decoder): such a file holds something this reader would silently drop."""
        unknown = sorted(str(k) for k in self.state_dict if k not in self.used and not ignored(str(k)))
        if unknown:
            raise ValueError(
                f"{self.source}: unexpected keys for a {self.family} state_dict: "
                f"{', '.join(unknown[:LISTED_KEYS])}{' ...' if len(unknown) > LISTED_KEYS else ''}"
            )


def load_checked(build: Callable[[], nn.Module], tensors: dict[str, torch.Tensor], source: str) -> nn.Module:
    """``build()`` on the meta device, then given ``tensors`` (our names; float32 copies of the checked
    tensors) as its parameters and buffers, strictly: every one of the model's entries and no other."""
    with torch.device("meta"):
        model = build()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:  # a reader's bug, not a user's file: say all of it
        raise ValueError(
            f"{source}: the weights do not fit the model built from their shapes (missing "
            f"{missing[:LISTED_KEYS]}, unexpected {unexpected[:LISTED_KEYS]}, "
            f"shape {wrong[:LISTED_KEYS]})"
        )
    model.load_state_dict({k: t.detach().to(torch.float32) for k, t in tensors.items()}, strict=True, assign=True)
    return model.eval()


def patch_embedding(check: LayoutCheck) -> tuple[int, int, dict[str, torch.Tensor]]:
    """``(width, patch size, tensors)`` of the ``patch_embed.proj`` convolution every family has (square
    ``p x p`` kernels on RGB), renamed to ``PlainViT``'s ``patch_embed``."""
    weight = check.tensor("patch_embed.proj.weight", (None, 3, None, None))
    dim, patch_size = int(weight.shape[0]), int(weight.shape[2])
    if weight.shape[3] != patch_size or dim < 1 or patch_size < 1:
        raise ValueError(
            f"{check.source}: patch_embed.proj.weight has shape {tuple(weight.shape)}, expected "
            f"square patches (E, 3, p, p)"
        )
    bias = check.tensor("patch_embed.proj.bias", (dim,))
    return dim, patch_size, {"patch_embed.weight": weight, "patch_embed.bias": bias}


def heads_for_width(
    dim: int, source: str, family: str, known: dict[int, int] | None = None, head_channels: int = 64
) -> int:
    """The attention heads of a published ``dim``-wide ViT, which no tensor shape records: ``known[dim]``
    where listed, else ``dim / head_channels`` (the published sizes' 64-channel heads)."""
    if known and dim in known:
        return known[dim]
    if dim % head_channels:
        raise ValueError(
            f"{source}: width {dim} is not a published {family} size and not a multiple of "
            f"{head_channels}-channel heads; give the head count (num_heads) explicitly"
        )
    return dim // head_channels


def feed_forward_layout(check: LayoutCheck, prefix: str, dim: int) -> tuple[str, int]:
    """``(kind, hidden)`` of the blocks' feed-forward, from block 0 under ``prefix`` (e.g. ``"blocks."``):
    ``mlp.fc1`` an MLP, ``mlp.w12`` DINOv2's fused SwiGLU, ``mlp.w1`` DINOv3's SwiGLU."""
    state = check.state_dict
    if f"{prefix}0.mlp.fc1.weight" in state:
        return "mlp", _rows(check, f"{prefix}0.mlp.fc1.weight", dim)
    if f"{prefix}0.mlp.w12.weight" in state:
        rows = _rows(check, f"{prefix}0.mlp.w12.weight", dim)
        if rows % 2:
            raise ValueError(f"{check.source}: {prefix}0.mlp.w12.weight has an odd number of rows ({rows})")
        return "swiglu_fused", rows // 2
    if f"{prefix}0.mlp.w1.weight" in state:
        return "swiglu", _rows(check, f"{prefix}0.mlp.w1.weight", dim)
    raise ValueError(
        f"{check.source}: not a {check.family} state_dict in the published layout (no "
        f"{prefix}0.mlp.fc1, .w12 or .w1 weight)"
    )


def _rows(check: LayoutCheck, key: str, dim: int) -> int:
    value = check.state_dict[key]
    if not isinstance(value, torch.Tensor) or value.dim() != 2 or value.shape[0] < 1:
        raise ValueError(f"{check.source}: {key} is not a weight matrix")
    return int(value.shape[0])


def block_tensors(
    check: LayoutCheck, prefix: str, depth: int, dim: int, ffn: str, hidden: int, layer_scale: bool
) -> dict[str, torch.Tensor]:
    """Every block's tensors under ``{prefix}{i}.`` (published names: ``norm1``, ``attn.qkv``, ``attn.proj``,
    ``ls1.gamma``, ``norm2``, ``mlp.*``, ``ls2.gamma``), checked and renamed to
    :class:`~muskie.model.published.plain_vit.PlainViT`'s ``blocks.{i}.*``."""
    feed_forwards = {
        "mlp": {"fc1": (hidden, dim), "fc2": (dim, hidden)},
        "swiglu_fused": {"w12": (2 * hidden, dim), "w3": (dim, hidden)},
        "swiglu": {"w1": (hidden, dim), "w2": (hidden, dim), "w3": (dim, hidden)},
    }
    linears = {
        "attn.qkv": (3 * dim, dim),
        "attn.proj": (dim, dim),
        **{f"mlp.{name}": shape for name, shape in feed_forwards[ffn].items()},
    }
    tensors = {}
    for i in range(depth):
        theirs, ours = f"{prefix}{i}.", f"blocks.{i}."
        for norm in ("norm1", "norm2"):
            for part in ("weight", "bias"):
                tensors[f"{ours}{norm}.{part}"] = check.tensor(f"{theirs}{norm}.{part}", (dim,))
        for name, (rows, cols) in linears.items():
            tensors[f"{ours}{name}.weight"] = check.tensor(f"{theirs}{name}.weight", (rows, cols))
            tensors[f"{ours}{name}.bias"] = check.tensor(f"{theirs}{name}.bias", (rows,))
        if layer_scale:
            tensors[f"{ours}ls1"] = check.tensor(f"{theirs}ls1.gamma", (dim,))
            tensors[f"{ours}ls2"] = check.tensor(f"{theirs}ls2.gamma", (dim,))
    return tensors
