"""Undistorting a view: resample an image (and its depth) taken through a lens with distortion into the
pinhole camera of its own ``K`` (the loader applies it before cropping; the model of the lens and the forward
map live in ``muskie.geometry.distortion``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from muskie.data.scene import Frame
from muskie.geometry.distortion import LensDistortion, undistortion_map


@functools.lru_cache(maxsize=8)
def _undistortion_grid(intrinsics: bytes, distortion: LensDistortion, size: tuple[int, int]):
    """``grid_sample`` grid ``(1, H, W, 2)`` float32 and ``inside (H, W)`` bool of ``undistort_view``, cached
    per camera (``intrinsics``: the float64 bytes of ``K``): the views of a sample share their camera."""
    height, width = size
    k = np.frombuffer(intrinsics, dtype=np.float64).reshape(3, 3)
    pixel_map = undistortion_map(k, distortion, k, size)
    # a polynomial lens model folds back beyond the radius where it stops growing: rays past the fold land
    # inside the image again (where other rays are imaged), which the map's orientation flip gives away
    with np.errstate(invalid="ignore"):
        (du_dv, du_du), (dv_dv, dv_du) = (np.gradient(pixel_map[..., i], axis=(0, 1)) for i in (0, 1))
        unfolded = du_du * dv_dv - du_dv * dv_du > 0
    pixels = torch.from_numpy(pixel_map)
    inside = (
        torch.isfinite(pixels).all(-1)
        & (pixels[..., 0] >= -0.5)
        & (pixels[..., 0] <= width - 0.5)
        & (pixels[..., 1] >= -0.5)
        & (pixels[..., 1] <= height - 0.5)
        & torch.from_numpy(unfolded)
    )
    # grid_sample's coordinates (align_corners=False): -1 and 1 are the outer edges of the image, so the same
    # grid addresses a scaled copy of it (the depth) at the same points of the field of view
    grid = torch.stack([(pixels[..., 0] + 0.5) / width, (pixels[..., 1] + 0.5) / height], dim=-1) * 2 - 1
    grid = torch.where(inside[..., None], grid, torch.zeros_like(grid)).float()[None]
    return grid, inside


def undistort_view(
    image: torch.Tensor, intrinsics: np.ndarray, distortion: LensDistortion, depth: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resample a distorted view into the pinhole camera of its own ``K``, at the same size.

    The new camera keeps the pinhole part ``K`` of the distorted one (the frame's ``intrinsics`` stay
    exact): every undistorted pixel samples the distorted image at the forward distortion of its ray
    (``undistortion_map``), so no inversion is approximated. Barrel and fisheye lenses lose the periphery
    beyond that pinhole's field of view; where a ray has no source pixel (pincushion corners, or rays past
    the radius where a polynomial model folds back) the image is 0 and the depth 0 (unknown).

    Args:
        image: ``(3, H, W)`` float in [0, 1], the distorted image.
        intrinsics: ``(3, 3)`` pinhole part of its camera (pixels, centres at integer coordinates).
        distortion: its lens distortion.
        depth: optional ``(h, w)`` z-depth of the same camera, at the image's size or a scaled copy of it
            (``h / H = w / W``, e.g. a lower-resolution depth sensor registered to the image: the caller checks
            it); z-depth is a property of the 3D point, so undistortion moves values without changing them.

    Returns:
        ``(image (3, H, W), depth (H, W) or None)``: the image sampled bilinearly, the depth by nearest
        neighbour (no depth is invented across edges).
    """
    k = np.ascontiguousarray(intrinsics, dtype=np.float64)
    grid, inside = _undistortion_grid(k.tobytes(), distortion, tuple(image.shape[1:]))
    image = F.grid_sample(image[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    image = image * inside
    if depth is not None:
        depth = (
            F.grid_sample(depth[None, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[
                0, 0
            ]
            * inside
        )
    return image, depth


def check_depth_size(frame: Frame, depth: torch.Tensor) -> None:
    """A depth map must have the image's size or be a scaled copy of it (``h / H = w / W``); the error names
    the file."""
    scale_y, scale_x = depth.shape[0] / frame.height, depth.shape[1] / frame.width
    if abs(scale_y - scale_x) > 1e-6 * max(scale_x, scale_y):
        raise ValueError(
            f"{frame.depth_path}: depth is {depth.shape[1]}x{depth.shape[0]}, neither the image's "
            f"size {frame.width}x{frame.height} nor a scaled copy of it"
        )
