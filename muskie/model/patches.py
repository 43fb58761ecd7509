"""Cutting images into flattened patches and putting them back: the pixel head's target layout.

A patch's ``C * p * p`` values are ordered as ``F.pixel_unshuffle`` orders them (channel, then row, then
column within the patch); patches are in row-major order over the ``(H/p, W/p)`` grid, like the tokens.
"""

from __future__ import annotations

import torch

# MAE's norm_pix_loss: the floor under a flat patch's variance
NORM_PIX_EPS = 1e-6


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(B, V, C, H, W)`` images -> ``(B, V, L, C * p * p)`` patches, ``L = (H/p) * (W/p)``.

    ``H`` and ``W`` must be multiples of ``p``. Any dtype; values are copied, not scaled.
    """
    if images.dim() != 5:
        raise ValueError(f"images must be (B, V, C, H, W), got shape {tuple(images.shape)}")
    b, v, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}")
    grid = images.reshape(b, v, c, h // p, p, w // p, p)
    return grid.permute(0, 1, 3, 5, 2, 4, 6).reshape(b, v, (h // p) * (w // p), c * p * p)


def unpatchify(patches: torch.Tensor, patch_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, V, L, C * p * p)`` -> ``(B, V, C, height, width)``."""
    if patches.dim() != 4:
        raise ValueError(f"patches must be (B, V, L, C*p*p), got shape {tuple(patches.shape)}")
    b, v, length, dim = patches.shape
    p = patch_size
    if height % p or width % p:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {p}")
    grid_h, grid_w = height // p, width // p
    if length != grid_h * grid_w or dim % (p * p):
        raise ValueError(
            f"patches of shape {tuple(patches.shape)} do not tile a {height}x{width} image with {p}x{p} patches"
        )
    c = dim // (p * p)
    grid = patches.reshape(b, v, grid_h, grid_w, c, p, p)
    return grid.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, v, c, height, width)


def patch_targets(images: torch.Tensor, patch_size: int, normalize: bool = True) -> torch.Tensor:
    """``(B, V, L, C * p * p)`` float32 reconstruction targets of ``images (B, V, C, H, W)``: the patches
    as :func:`patchify` cuts them, per-patch normalised when ``normalize`` (MAE's ``norm_pix_loss``: each
    patch's values minus their mean, over ``sqrt(var + 1e-6)`` with the unbiased variance of its values,
    so a loss on them weighs texture, not brightness)."""
    target = patchify(images.float(), patch_size)
    if not normalize:
        return target
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + NORM_PIX_EPS).sqrt()
