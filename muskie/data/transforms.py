"""Resize and random resized crop of one view, with its intrinsics updated exactly.

Pixel convention (``muskie.constants``): pixel centres at integer coordinates, so pixel ``i`` covers
``[i - 0.5, i + 0.5]``. Cropping at ``(top, left)`` shifts the principal point by ``(-left, -top)``;
resizing a ``w``-pixel axis to ``w'`` pixels maps a coordinate ``u`` to ``(u + 0.5) * w' / w - 0.5``, the
mapping ``F.interpolate(align_corners=False)`` samples with. A 3D point therefore projects, with the updated
intrinsics, onto the same image content as before. There are no flips: a mirrored image is no camera view of
the scene.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F


class CropBox(NamedTuple):
    """An integer pixel rectangle: rows ``top .. top + height - 1``, columns ``left .. left + width - 1``."""

    top: int
    left: int
    height: int
    width: int


def crop_intrinsics(intrinsics: torch.Tensor, top: float, left: float) -> torch.Tensor:
    """``(..., 3, 3)`` ``K`` of the crop whose top-left pixel is pixel ``(top, left)`` of the original."""
    out = intrinsics.clone()
    out[..., 0, 2] -= left
    out[..., 1, 2] -= top
    return out


def resize_intrinsics(intrinsics: torch.Tensor, in_size: tuple[int, int], out_size: tuple[int, int]) -> torch.Tensor:
    """``(..., 3, 3)`` ``K`` after resizing an image of ``in_size = (H, W)`` to ``out_size = (H', W')``.

    Row 0 (``fx``, skew, ``cx``) scales by ``W'/W`` and row 1 by ``H'/H``; the principal point moves with
    the half-pixel offset of the integer-centre convention.
    """
    scale_y = out_size[0] / in_size[0]
    scale_x = out_size[1] / in_size[1]
    out = intrinsics.clone()
    out[..., 0, :] *= scale_x
    out[..., 1, :] *= scale_y
    out[..., 0, 2] += 0.5 * scale_x - 0.5
    out[..., 1, 2] += 0.5 * scale_y - 0.5
    return out


def sample_crop(
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    scale: tuple[float, float] = (0.8, 1.0),
    generator: torch.Generator | None = None,
) -> CropBox:
    """Draw a crop box for ``random_resized_crop``.

    The crop has the output's aspect ratio (up to rounding to whole pixels) and covers a fraction of the
    area of the largest such crop that fits the image, drawn uniformly from ``scale``; its position is
    uniform over the image. ``scale = (1, 1)`` gives the largest crop of that aspect, at a random position.

    Args:
        in_size: image ``(H, W)`` in pixels.
        out_size: target ``(H', W')`` whose aspect ratio the crop takes.
        scale: ``(low, high)`` area fractions, ``0 < low <= high <= 1``.
        generator: the source of randomness (deterministic crops from a seeded generator).
    """
    in_h, in_w = in_size
    out_h, out_w = out_size
    if min(in_h, in_w, out_h, out_w) <= 0:
        raise ValueError(f"sizes must be positive, got in_size {in_size} and out_size {out_size}")
    low, high = scale
    if not 0 < low <= high <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    # the largest crop of the target aspect inside the image
    fit = min(in_h / out_h, in_w / out_w)
    area = low + (high - low) * torch.rand((), generator=generator, dtype=torch.float64).item()
    side = math.sqrt(area)
    crop_h = min(in_h, max(1, round(out_h * fit * side)))
    crop_w = min(in_w, max(1, round(out_w * fit * side)))
    top = int(torch.randint(0, in_h - crop_h + 1, (), generator=generator))
    left = int(torch.randint(0, in_w - crop_w + 1, (), generator=generator))
    return CropBox(top, left, crop_h, crop_w)


def centred_crop(in_size: tuple[int, int], out_size: tuple[int, int]) -> CropBox:
    """The largest crop of the output's aspect ratio (rounded to whole pixels) centred in an image of
    ``in_size = (H, W)``; ``out_size = (H', W')``."""
    in_h, in_w = in_size
    out_h, out_w = out_size
    if min(in_h, in_w, out_h, out_w) <= 0:
        raise ValueError(f"sizes must be positive, got in_size {in_size} and out_size {out_size}")
    fit = min(in_h / out_h, in_w / out_w)
    crop_h, crop_w = min(in_h, max(1, round(out_h * fit))), min(in_w, max(1, round(out_w * fit)))
    return CropBox((in_h - crop_h) // 2, (in_w - crop_w) // 2, crop_h, crop_w)


def crop_and_resize(
    image: torch.Tensor,
    box: CropBox,
    out_size: tuple[int, int],
    intrinsics: torch.Tensor | None = None,
    depth: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Cut ``box`` out of a view and resize it to ``out_size``.

    Args:
        image: ``(3, H, W)`` float in [0, 1].
        box: the crop, inside the image.
        out_size: ``(H', W')`` output size.
        intrinsics: optional ``(3, 3)`` ``K`` in pixels (any float dtype, kept).
        depth: optional ``(H, W)`` depth (0 = unknown), resized by nearest neighbour so no depth is invented
            across edges and unknown pixels stay unknown.

    Returns:
        ``(image (3, H', W') in [0, 1], intrinsics (3, 3) or None, depth (H', W') or None)``; the image is
        resized bilinearly with antialiasing.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must have shape (3, H, W), got {tuple(image.shape)}")
    in_h, in_w = image.shape[1:]
    if box.top < 0 or box.left < 0 or box.top + box.height > in_h or box.left + box.width > in_w:
        raise ValueError(f"crop {box} does not fit an image of size {(in_h, in_w)}")
    rows = slice(box.top, box.top + box.height)
    cols = slice(box.left, box.left + box.width)
    crop = image[:, rows, cols]
    if tuple(crop.shape[1:]) != tuple(out_size):
        crop = F.interpolate(crop[None], size=tuple(out_size), mode="bilinear", align_corners=False, antialias=True)[
            0
        ].clamp_(0.0, 1.0)
    if intrinsics is not None:
        intrinsics = resize_intrinsics(
            crop_intrinsics(intrinsics, box.top, box.left), (box.height, box.width), out_size
        )
    if depth is not None:
        if tuple(depth.shape) != (in_h, in_w):
            raise ValueError(f"depth shape {tuple(depth.shape)} does not match the image's {(in_h, in_w)}")
        # "nearest-exact" picks the source pixel whose centre is nearest: the half-pixel convention above
        depth = F.interpolate(depth[rows, cols][None, None], size=tuple(out_size), mode="nearest-exact")[0, 0]
    return crop.contiguous(), intrinsics, depth


def resize(
    image: torch.Tensor,
    out_size: tuple[int, int],
    intrinsics: torch.Tensor | None = None,
    depth: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Resize a whole view to ``out_size`` (the aspect ratio may change); see ``crop_and_resize``."""
    box = CropBox(0, 0, image.shape[-2], image.shape[-1])
    return crop_and_resize(image, box, out_size, intrinsics, depth)


def random_resized_crop(
    image: torch.Tensor,
    out_size: tuple[int, int],
    intrinsics: torch.Tensor | None = None,
    depth: torch.Tensor | None = None,
    scale: tuple[float, float] = (0.8, 1.0),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Random crop of the output's aspect ratio (``sample_crop``), resized to ``out_size``.

    Shapes as in ``crop_and_resize``. Deterministic given the ``generator``'s state.
    """
    box = sample_crop(tuple(image.shape[-2:]), out_size, scale, generator)
    return crop_and_resize(image, box, out_size, intrinsics, depth)
