"""2D rotary position embedding (RoPE) with the released checkpoints' exact convention.

Each head's ``D`` channels are split in a first half rotated by the patch row ``y`` and a second half
rotated by the patch column ``x``. Within a half of ``D' = D/2`` channels the frequencies are
``base ** (-2j / D')`` for ``j = 0 .. D'/2 - 1``; the angles ``pos * freq`` are concatenated with
themselves to length ``D'`` and applied "rotate-half" style, ``h * cos + cat(-h2, h1) * sin`` with
``h1, h2`` the two halves of ``h``. Positions: register tokens sit at ``(0, 0)`` (the identity rotation),
patch ``(y, x)`` at ``(y + 1, x + 1)``; every view uses the same positions.
"""

from __future__ import annotations

import torch


def token_positions(grid_height: int, grid_width: int, num_registers: int, device=None) -> torch.Tensor:
    """``(T, 2)`` int64 ``(row, column)`` positions of one view's tokens, ``T = num_registers + L``.

    Registers first at ``(0, 0)``, then the ``L = grid_height * grid_width`` patches in row-major order.
    """
    rows = torch.arange(1, grid_height + 1, device=device).repeat_interleave(grid_width)
    cols = torch.arange(1, grid_width + 1, device=device).repeat(grid_height)
    patches = torch.stack([rows, cols], dim=-1)
    registers = torch.zeros(num_registers, 2, dtype=torch.int64, device=device)
    return torch.cat([registers, patches])


def rope_tables(
    positions: torch.Tensor, head_dim: int, base: float, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine tables ``(T, head_dim)`` for ``positions (T, 2)`` (row, column).

    Angles are computed in float64 and rounded once to ``dtype``, so large positions stay accurate.
    """
    if head_dim % 4:
        raise ValueError(f"2D RoPE needs a head width divisible by 4, got {head_dim}")
    half = head_dim // 2
    exponents = torch.arange(0, half, 2, dtype=torch.float64, device=positions.device) / half
    frequencies = base ** (-exponents)  # (half / 2,)
    angles = positions.to(torch.float64)[..., None] * frequencies  # (T, 2, half / 2)
    angles = torch.cat([angles, angles], dim=-1).flatten(-2)  # (T, head_dim): row half, then column half
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys ``x (..., T, D)`` by tables ``cos, sin (T, D)`` from :func:`rope_tables`.

    The tables are cast to ``x``'s dtype so that mixed precision keeps queries and keys in one dtype.
    """
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    quarters = x.unflatten(-1, (2, 2, x.shape[-1] // 4))  # (..., row/column half, first/second part, D/4)
    first, second = quarters.unbind(-2)
    rotated = torch.stack([-second, first], dim=-2).flatten(-3)
    return x * cos + rotated * sin


def rotation_signs(head_dim: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``(head_dim,)``: -1 on the first part of each half, +1 on the second: the signs of rotate-half
    (``cat(-h2, h1)``) that :func:`apply_rope_swapped` folds into the sine table."""
    signs = torch.tensor([-1.0, 1.0], dtype=dtype, device=device).repeat(2)  # (row, column half) x (part)
    return signs.repeat_interleave(head_dim // 4)


def apply_rope_swapped(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """:func:`apply_rope` computed in fewer passes, with exactly its numbers: ``x (..., T, D)`` rotated by
    ``cos (T, D)`` and ``signed_sin = sin * rotation_signs(D)``.

    Rotate-half is ``cat(-h2, h1) * sin = cat(h2, h1) * signed_sin``: negating a factor of a product is
    exact in floating point, so each value is the same product and the same sum as in :func:`apply_rope`,
    without the separate negation. Queries and keys stacked in one tensor (``(2, ..., T, D)``) go through
    in one pass each for the product, the swap and the sum, instead of one per tensor.
    """
    cos, signed_sin = cos.to(x.dtype), signed_sin.to(x.dtype)
    swapped = x.unflatten(-1, (2, 2, x.shape[-1] // 4)).flip(-2).flatten(-3)  # cat(h2, h1) in each half
    return x * cos + swapped * signed_sin
