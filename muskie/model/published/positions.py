"""How the published ViTs encode patch positions, for any patch grid ``(h, w)``.

- :class:`PositionTable`: an absolute table learned (DINOv2) or fixed sin-cos (MAE, CroCo v1) on a square
  ``M x M`` grid, resized bicubic (``align_corners=False``) to the patch grid when that differs. DINOv2's
  files without registers resize with a scale factor of ``(h + 0.1) / M`` rather than ``h / M`` and no
  antialias (its ``interpolate_offset`` kludge), those with registers to the size ``(h, w)`` with antialias
  (PyTorch's antialiased bicubic is the PIL kernel, ``a = -0.5``, even when enlarging); MAE and CroCo resize
  to the size without antialias, as their fine-tuning code does.
- :class:`NormalizedRope`: DINOv3's rotary embedding. Patch centres are normalised per axis to ``[-1, 1]``
  (``2 * (i + 0.5) / h - 1``); angles ``2 pi * coord / period`` for the stored periods (``D/4`` of them),
  rows then columns, tiled twice to the head width and applied rotate-half over the whole head.
- :class:`GridRope`: CroCo v2's rotary embedding: integer patch positions ``(y, x)`` from 0, the first half
  of each head's channels turned by ``y``, the second by ``x``, frequencies ``base ** (-2j / (D/2))``; the
  convention of muskie's own RoPE (:mod:`muskie.model.layers.rope`), whose tables and rotation it uses.

Each is a module called with the grid that returns a :class:`PositionCode`, and each describes itself as
plain values (``spec()``, ``{"kind": ..., ...}``) that :func:`positions_from_spec` builds it again from, so a
model holding one can be saved and rebuilt without the file it was read from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from muskie.model.layers.rope import apply_rope, rope_tables

# rotates queries or keys (..., L, head_dim) of the patch tokens by their positions
Rotate = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PositionCode:
    """What a position module gives for one patch grid.

    Attributes:
        patches: ``(1, h*w, E)`` added to the patch tokens, or None.
        cls: ``(1, 1, E)`` added to the class token, or None.
        rotate: turns queries and keys ``(..., h*w, head_dim)`` of the patches, or None.
    """

    patches: torch.Tensor | None = None
    cls: torch.Tensor | None = None
    rotate: Rotate | None = None


class PositionTable(nn.Module):
    """An absolute position table ``table (1, [1 +] M*M, E)`` (the class token's entry first when
    ``cls_entry``), resized bicubic to the patch grid (see the module docstring for ``offset`` and
    ``antialias``)."""

    def __init__(self, grid: int, dim: int, cls_entry: bool, offset: float = 0.0, antialias: bool = False):
        super().__init__()
        self.grid = grid
        self.cls_entry = cls_entry
        self.offset = offset
        self.antialias = antialias
        self.table = nn.Parameter(torch.zeros(1, int(cls_entry) + grid * grid, dim))

    def spec(self) -> dict:
        """``{"kind": "table", ...}``: the arguments that build this module again."""
        dim = self.table.shape[-1]
        return {
            "kind": "table",
            "grid": self.grid,
            "dim": dim,
            "cls_entry": self.cls_entry,
            "offset": self.offset,
            "antialias": self.antialias,
        }

    def resized(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """``(1, h*w, E)``: the patch entries on an ``h x w`` grid, row-major."""
        m, dim = self.grid, self.table.shape[-1]
        patches = self.table[:, int(self.cls_entry) :]
        if (grid_h, grid_w) == (m, m):
            return patches
        square = patches.reshape(1, m, m, dim).permute(0, 3, 1, 2)
        if self.offset:
            target = {"scale_factor": ((grid_h + self.offset) / m, (grid_w + self.offset) / m)}
        else:
            target = {"size": (grid_h, grid_w)}
        resized = F.interpolate(square, mode="bicubic", align_corners=False, antialias=self.antialias, **target)
        return resized.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)

    def forward(self, grid_h: int, grid_w: int, dtype: torch.dtype, device=None) -> PositionCode:
        cls = self.table[:, :1].to(dtype) if self.cls_entry else None
        return PositionCode(patches=self.resized(grid_h, grid_w).to(dtype), cls=cls)


def rotate_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x * cos + cat(-x2, x1) * sin`` over the last axis, ``x1``, ``x2`` its two halves."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class NormalizedRope(nn.Module):
    """DINOv3's rotary embedding with its stored ``periods (head_dim/4,)`` (a buffer, read from the file)."""

    def __init__(self, head_dim: int):
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"DINOv3's RoPE needs a head width divisible by 4, got {head_dim}")
        self.register_buffer("periods", torch.ones(head_dim // 4))

    def spec(self) -> dict:
        """``{"kind": "normalized_rope", "head_dim": D}`` (the periods are a buffer of the state_dict)."""
        return {"kind": "normalized_rope", "head_dim": 4 * self.periods.shape[0]}

    def forward(self, grid_h: int, grid_w: int, dtype: torch.dtype, device=None) -> PositionCode:
        rows = 2 * (torch.arange(grid_h, dtype=torch.float64, device=device) + 0.5) / grid_h - 1
        cols = 2 * (torch.arange(grid_w, dtype=torch.float64, device=device) + 0.5) / grid_w - 1
        coords = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).reshape(-1, 2)  # (L, 2)
        angles = 2 * math.pi * coords[:, :, None] / self.periods.to(torch.float64)  # (L, 2, D/4)
        angles = angles.flatten(1).tile(2)  # (L, D): rows, columns, rows, columns
        return PositionCode(rotate=partial(rotate_half, cos=angles.cos().to(dtype), sin=angles.sin().to(dtype)))


class GridRope(nn.Module):
    """CroCo v2's rotary embedding (``RoPE{base}``) for heads of ``head_dim`` channels."""

    def __init__(self, head_dim: int, base: float):
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"2D RoPE needs a head width divisible by 4, got {head_dim}")
        self.head_dim = head_dim
        self.base = base

    def spec(self) -> dict:
        """``{"kind": "grid_rope", "head_dim": D, "base": b}``."""
        return {"kind": "grid_rope", "head_dim": self.head_dim, "base": self.base}

    def forward(self, grid_h: int, grid_w: int, dtype: torch.dtype, device=None) -> PositionCode:
        rows = torch.arange(grid_h, device=device).repeat_interleave(grid_w)
        cols = torch.arange(grid_w, device=device).repeat(grid_h)
        cos, sin = rope_tables(torch.stack([rows, cols], dim=-1), self.head_dim, self.base, dtype=dtype)
        return PositionCode(rotate=partial(apply_rope, cos=cos, sin=sin))


# kind -> (class, its arguments and their types)
_KINDS: dict[str, tuple[type[nn.Module], dict[str, type | tuple[type, ...]]]] = {
    "table": (
        PositionTable,
        {"grid": int, "dim": int, "cls_entry": bool, "offset": (int, float), "antialias": bool},
    ),
    "normalized_rope": (NormalizedRope, {"head_dim": int}),
    "grid_rope": (GridRope, {"head_dim": int, "base": (int, float)}),
}


def positions_from_spec(spec: dict, where: str = "positions") -> nn.Module:
    """The position module a ``spec()`` describes (its parameters and buffers freshly initialised).

    Raises ValueError naming ``where`` for an unknown kind, a missing or unknown argument, or a value of the
    wrong type (the spec comes from a weights file's config).
    """
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in _KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {', '.join(_KINDS)}, got {kind!r}")
    cls, arguments = _KINDS[kind]
    given = {key: value for key, value in spec.items() if key != "kind"}
    if set(given) != set(arguments):
        raise ValueError(f"{where}: a {kind!r} position code takes {sorted(arguments)}, got {sorted(given)}")
    for key, value in given.items():
        if not _valid(key, value, arguments[key]):
            raise ValueError(f"{where}.{key}: {value!r} is not a valid {key}")
    return cls(**given)


def _valid(key: str, value, kind: type | tuple[type, ...]) -> bool:
    """A flag is a bool; an integer a positive int (not a bool, which Python counts as one); a number finite,
    >= 0, and > 0 for a RoPE base."""
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    if kind is int:
        return value >= 1
    return math.isfinite(value) and (value > 0 if key == "base" else value >= 0)
