"""Epipolar geometry of two calibrated views: the fundamental matrix and the symmetric epipolar distance.

Everything is computed in float64 whatever the inputs' dtype: distances of a few hundredths of a pixel are
compared, and the fundamental matrix mixes pixel-sized and unit-sized entries.
"""

from __future__ import annotations

import torch

from muskie.geometry.poses import invert_pose


def fundamental_matrix(
    K_src: torch.Tensor, cam_to_world_src: torch.Tensor, K_dst: torch.Tensor, cam_to_world_dst: torch.Tensor
) -> torch.Tensor:
    """``F (3, 3)`` float64 with ``x_dst^T F x_src = 0`` for homogeneous pixels ``(u, v, 1)`` of one world
    point seen by both cameras (``K_* (3, 3)`` in pixels, ``cam_to_world_* (4, 4)`` OpenCV axes)."""
    dtype = torch.float64
    relative = invert_pose(cam_to_world_dst.to(dtype)) @ cam_to_world_src.to(dtype)  # src camera -> dst camera
    rotation, t = relative[:3, :3], relative[:3, 3]
    skew = torch.zeros(3, 3, dtype=dtype, device=relative.device)
    skew[0, 1], skew[0, 2], skew[1, 2] = -t[2], t[1], -t[0]
    skew = skew - skew.T
    return torch.linalg.inv(K_dst.to(dtype)).T @ skew @ rotation @ torch.linalg.inv(K_src.to(dtype))


def symmetric_epipolar_distance(
    uv_src: torch.Tensor,
    uv_dst: torch.Tensor,
    K_src: torch.Tensor,
    cam_to_world_src: torch.Tensor,
    K_dst: torch.Tensor,
    cam_to_world_dst: torch.Tensor,
) -> torch.Tensor:
    """Symmetric epipolar distance ``(N,)`` float64 in px of matches ``uv_src (N, 2)`` <-> ``uv_dst (N, 2)``:
    the mean of the distance from ``uv_dst`` to the epipolar line of ``uv_src`` and from ``uv_src`` to the
    epipolar line of ``uv_dst``. Zero for exact correspondences; a match that slides along its epipolar
    line also scores zero."""
    fundamental = fundamental_matrix(K_src, cam_to_world_src, K_dst, cam_to_world_dst)
    ones = torch.ones_like(uv_src[:, :1], dtype=torch.float64)
    x_src = torch.cat([uv_src.double(), ones], dim=-1)
    x_dst = torch.cat([uv_dst.double(), ones], dim=-1)
    lines_dst = x_src @ fundamental.T  # (N, 3): F x_src
    lines_src = x_dst @ fundamental  # (N, 3): F^T x_dst
    algebraic = (x_dst * lines_dst).sum(-1).abs()
    return 0.5 * (algebraic / lines_dst[:, :2].norm(dim=-1) + algebraic / lines_src[:, :2].norm(dim=-1))
