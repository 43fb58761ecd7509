"""Pose math of the reconstruction model: rotations from 9 numbers, relative poses, angles.

Conventions (``muskie.constants``): poses are camera-to-world ``(..., 4, 4)`` with OpenCV camera axes. The
relative pose of the pair ``(i, j)`` is ``T_i^-1 T_j``: it maps camera ``j``'s coordinates to camera ``i``'s.
It does not change when every pose is moved by the same rigid transform of the world, which is why the loss
and the metrics compare relative poses: the model predicts its cameras in a frame of its own choosing.
"""

from __future__ import annotations

import torch

from muskie.data.geometry import invert_pose


class _SpecialOrthonormalize(torch.autograd.Function):
    """The rotation nearest (Frobenius) to ``M (..., 3, 3)``: ``U diag(1, 1, det(U V^T)) V^T`` for
    ``M = U S V^T``, with a closed-form backward.

    Autograd through ``torch.linalg.svd`` divides by differences of singular values, which are zero for
    the near-identity matrices a camera head starts from. The rotation factor only needs their sums: with
    ``M = U' S' V^T``, ``U' = U D``, ``S' = D S`` and ``D = diag(1, 1, d)``, the differential is
    ``dR = U' W V^T`` with ``W_ij = (A - A^T)_ij / (s'_i + s'_j)``, ``A = U'^T dM V``, so the gradient is
    ``U' (K * (G' - G'^T)) V^T`` with ``G' = U'^T G V`` and ``K_ij = 1 / (s'_i + s'_j)``.
    """

    @staticmethod
    def forward(ctx, matrix):
        u, s, vh = torch.linalg.svd(matrix)
        d = torch.det(u @ vh)
        signs = torch.ones_like(s)
        signs[..., 2] = d
        u_signed = u * signs[..., None, :]
        ctx.save_for_backward(u_signed, s * signs, vh)
        return u_signed @ vh

    @staticmethod
    def backward(ctx, grad):
        u_signed, s_signed, vh = ctx.saved_tensors
        v = vh.transpose(-1, -2)
        g = u_signed.transpose(-1, -2) @ grad @ v
        sums = s_signed[..., :, None] + s_signed[..., None, :]
        # sums vanish only for a reflection-like M with two equal singular values: the rotation jumps there
        sums = torch.where(sums.abs() < 1e-12, torch.full_like(sums, 1e-12), sums)
        return u_signed @ ((g - g.transpose(-1, -2)) / sums) @ vh


def special_orthonormalize(matrix: torch.Tensor) -> torch.Tensor:
    """The rotation matrix ``(..., 3, 3)`` (det +1) nearest to ``matrix (..., 3, 3)`` in Frobenius norm.

    Computed by SVD, with a backward that stays finite when singular values coincide.
    """
    if matrix.shape[-2:] != (3, 3):
        raise ValueError(f"matrix must have shape (..., 3, 3), got {tuple(matrix.shape)}")
    return _SpecialOrthonormalize.apply(matrix)


def relative_poses(cam_to_world: torch.Tensor) -> torch.Tensor:
    """All pairs' relative poses ``(..., V, V, 4, 4)``: entry ``[i, j] = T_i^-1 T_j`` for ``(..., V, 4, 4)``
    camera-to-world poses (rigid)."""
    if cam_to_world.shape[-2:] != (4, 4):
        raise ValueError(f"cam_to_world must have shape (..., V, 4, 4), got {tuple(cam_to_world.shape)}")
    return invert_pose(cam_to_world)[..., :, None, :, :] @ cam_to_world[..., None, :, :, :]


def rotation_angle(rotation_a: torch.Tensor, rotation_b: torch.Tensor) -> torch.Tensor:
    """Geodesic angle ``(...)`` in radians, in [0, pi], between rotations ``(..., 3, 3)``.

    ``atan2(|axis|, cos)`` of ``R = R_a^T R_b`` rather than ``arccos`` of the trace: accurate for small angles
    and with a finite gradient at zero.
    """
    r = rotation_a.transpose(-1, -2) @ rotation_b
    cos = (r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2] - 1.0) / 2.0
    axis = torch.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    return torch.atan2(torch.linalg.vector_norm(axis, dim=-1) / 2.0, cos)


def vector_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle ``(...)`` in radians, in [0, pi], between vectors ``(..., 3)``; 0 if either is zero."""
    cross = torch.linalg.vector_norm(torch.cross(a, b, dim=-1), dim=-1)
    return torch.atan2(cross, (a * b).sum(-1))


def pair_mask(num_views: int, device=None) -> torch.Tensor:
    """``(V, V)`` bool, True off the diagonal: the ordered pairs ``i != j``."""
    return ~torch.eye(num_views, dtype=torch.bool, device=device)
