"""Visibility: which points a view with known depth sees, and which pixels two views share.

One occlusion test, :func:`visible_in_view`, serves both the covisibility of whole views
(:func:`covisible`, used to measure synthetic camera paths) and the ground-truth tracks of the
correspondence benchmark (``muskie.eval.correspondence``).
"""

from __future__ import annotations

import torch

from muskie.constants import OCCLUSION_TOLERANCE
from muskie.geometry.cameras import gather_pixels, nearest_pixel, project_points, unproject_depth


def visible_in_view(
    uv: torch.Tensor, z: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, tolerance: float = OCCLUSION_TOLERANCE
) -> torch.Tensor:
    """Which projected points a view sees.

    A point is seen when its nearest pixel lies inside the image, it is in front of the camera (``z > 0``),
    that pixel has valid depth, and the point is not occluded: ``z`` is at most the pixel's depth plus
    ``tolerance`` (world units, :data:`OCCLUSION_TOLERANCE` by default).

    Args:
        uv: ``(..., N, 2)`` pixel coordinates of the points in the view and z: ``(..., N)`` their z-depth
            there, as :func:`~muskie.geometry.project_points` returns them.
        depth: ``(..., H, W)`` the view's z-depth; valid: ``(..., H, W)`` bool, pixels with known depth.

    Returns:
        ``(..., N)`` bool. The comparison runs in the promoted dtype of ``z`` and ``depth``.
    """
    height, width = depth.shape[-2:]
    index, inside = nearest_pixel(uv, height, width)
    inside = inside & (z > 0)
    # points outside (or with NaN pixels, e.g. at the camera centre) read pixel 0 and are dropped anyway
    index = torch.where(inside, index, torch.zeros_like(index))
    return inside & gather_pixels(valid, index) & (z <= gather_pixels(depth, index) + tolerance)


def covisible(
    depth_src: torch.Tensor,
    K_src: torch.Tensor,
    cam_to_world_src: torch.Tensor,
    depth_dst: torch.Tensor,
    K_dst: torch.Tensor,
    cam_to_world_dst: torch.Tensor,
    valid_src: torch.Tensor | None = None,
    valid_dst: torch.Tensor | None = None,
    tolerance: float = OCCLUSION_TOLERANCE,
) -> torch.Tensor:
    """Which pixels of a source view are seen by a destination view.

    A source pixel with valid depth is covisible when its lifted point is seen by the destination view
    (:func:`visible_in_view`: inside the image, in front of the camera, not occluded by more than
    ``tolerance`` world units at the nearest pixel).

    Args:
        depth_src: ``(..., H, W)`` z-depth; depth_dst: ``(..., H2, W2)``; K_*: ``(..., 3, 3)``;
        cam_to_world_*: ``(..., 4, 4)``; valid_*: optional ``(..., H, W)`` / ``(..., H2, W2)`` bool masks of
        pixels with known depth (default: depth > 0).

    Returns:
        ``(..., H, W)`` bool.
    """
    valid_src = depth_src > 0 if valid_src is None else valid_src
    valid_dst = depth_dst > 0 if valid_dst is None else valid_dst
    height, width = depth_src.shape[-2:]
    points = unproject_depth(depth_src, K_src, cam_to_world_src).flatten(-3, -2)
    uv, z = project_points(points, K_dst, cam_to_world_dst)
    seen = visible_in_view(uv, z, depth_dst, valid_dst, tolerance)
    return (seen & valid_src.flatten(-2)).unflatten(-1, (height, width))
