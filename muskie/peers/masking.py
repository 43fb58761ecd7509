"""The peers' masks: uniformly random patches, an exact count per view, and the visible patches' indices
that the encoder keeps (token dropping)."""

from __future__ import annotations

import torch

from muskie.pretraining.masking import num_masked_patches, sample_patch_masks


def sample_drop_masks(
    batch: int, num_views: int, grid_h: int, grid_w: int, mask_ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``(batch, num_views, L)`` bool, ``True`` = masked, ``L = grid_h * grid_w``: for every view exactly
    ``num_masked_patches(mask_ratio, L)`` uniformly random patches (``sample_patch_masks``' ``random`` mode),
    drawn from ``generator`` on the CPU."""
    masks = sample_patch_masks(batch * num_views, grid_h, grid_w, "random", mask_ratio, generator=generator)
    return masks.view(batch, num_views, grid_h * grid_w)


def num_visible_patches(mask_ratio: float, num_patches: int) -> int:
    """The patches a view keeps at ``mask_ratio``; a ValueError when that leaves none visible or none masked."""
    visible = num_patches - num_masked_patches(mask_ratio, num_patches)
    if not 0 < visible < num_patches:
        raise ValueError(
            f"mask ratio {mask_ratio} of {num_patches} patches leaves {visible} visible; a view "
            f"needs at least one visible and one masked patch"
        )
    return visible


def visible_indices(mask: torch.Tensor, num_visible: int) -> torch.Tensor:
    """``(..., num_visible)`` int64: the ascending indices of the ``False`` entries of ``mask (..., L)`` bool,
    which must hold exactly ``num_visible`` of them in every row (as :func:`sample_drop_masks` draws)."""
    # a stable sort of 0 (visible) before 1 (masked) keeps the visible patches in their row-major order
    return mask.to(torch.uint8).argsort(dim=-1, stable=True)[..., :num_visible]
