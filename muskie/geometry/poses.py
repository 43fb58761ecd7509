"""Rigid poses and rotations: inversion, applying a pose, look-at cameras, the OpenGL <-> OpenCV flip,
relative poses, rotation and vector angles, the nearest rotation of a 3x3 matrix, quaternions, how far a
matrix is from a rigid pose.

Poses are camera-to-world ``(..., 4, 4)`` with OpenCV camera axes unless a name says otherwise. The relative
pose of the pair ``(i, j)`` is ``T_i^-1 T_j``: it maps camera ``j``'s coordinates to camera ``i``'s. It does
not change when every pose is moved by the same rigid transform of the world, which is why the
reconstruction loss and metrics compare relative poses: a model predicts its cameras in a frame of its own
choosing.

``invert_pose``, ``transform_points`` and ``opengl_to_opencv`` take torch tensors or NumPy arrays and return
the same kind; the quaternion functions are NumPy float64 (the COLMAP parser's); the rest are torch.
"""

from __future__ import annotations

import numpy as np
import torch

# OpenGL camera axes (x right, y up, z backwards) are OpenCV's with y and z flipped.
_GL_CV_FLIP = (1.0, -1.0, -1.0, 1.0)
# the largest rigidity_error of a pose read from a file: far above the rounding of poses stored as text with
# six or more digits (about 1e-6), far below a scale or shear that changes the geometry (a 1% scale gives 0.02)
RIGID_TOLERANCE = 1e-3


def _check_pose(name: str, pose) -> None:
    if tuple(pose.shape[-2:]) != (4, 4):
        raise ValueError(f"{name} must have shape (..., 4, 4), got {tuple(pose.shape)}")


def invert_pose(pose):
    """Inverse of rigid transforms ``(..., 4, 4)`` (rotation + translation), e.g. cam_to_world -> world_to_cam.

    Takes a torch tensor or a NumPy array and returns the same kind and dtype. Uses ``R^T`` rather than a
    general inverse: exact for rigid poses and cheaper. ``-R^T t`` is written out as elementwise products and
    sums, not a matrix product, so arrays and tensors give the same bits on every CPU (BLAS kernels differ in
    their use of fused multiply-adds).
    """
    _check_pose("pose", pose)
    rotation_t = pose[..., :3, :3].swapaxes(-1, -2)
    translation = pose[..., :3, 3]
    inverse = torch.zeros_like(pose) if isinstance(pose, torch.Tensor) else np.zeros_like(pose)
    inverse[..., :3, :3] = rotation_t
    inverse[..., :3, 3] = -(
        rotation_t[..., 0] * translation[..., 0:1]
        + rotation_t[..., 1] * translation[..., 1:2]
        + rotation_t[..., 2] * translation[..., 2:3]
    )
    inverse[..., 3, 3] = 1.0
    return inverse


def rigidity_error(pose) -> float:
    """How far a ``(4, 4)`` pose (array-like) is from a rigid motion: the largest of ``|R^T R - I|`` (entries),
    ``|det R - 1|`` and the last row's distance from ``0 0 0 1``; 0 for a rigid pose, NaN for a non-finite one.
    A scaled, sheared or mirrored rotation part, or a projective last row, gives a large value."""
    pose = np.asarray(pose, dtype=np.float64)
    _check_pose("pose", pose)
    rotation = pose[:3, :3]
    if not np.all(np.isfinite(pose)):
        return float("nan")
    return float(
        max(
            np.abs(rotation.T @ rotation - np.eye(3)).max(),
            abs(np.linalg.det(rotation) - 1),
            np.abs(pose[3] - [0, 0, 0, 1]).max(),
        )
    )


def transform_points(pose, points):
    """``R x + t`` of points ``(..., N, 3)`` under rigid transforms ``pose (..., 4, 4)`` (one ``(4, 4)`` pose
    applies to points of any shape ``(..., 3)``). Torch tensors or NumPy arrays, both of one kind."""
    return points @ pose[..., :3, :3].swapaxes(-1, -2) + pose[..., None, :3, 3]


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Camera-to-world ``(..., 4, 4)``, OpenCV axes, of cameras at ``eye`` looking at ``target``.

    Args:
        eye, target: ``(..., 3)`` world positions (they must differ).
        up: ``(..., 3)`` world direction that appears upwards in the image (the camera's -y); it must not be
            parallel to the viewing direction. No roll: the camera's x axis is horizontal w.r.t. ``up``.
    """
    eye, target, up = torch.broadcast_tensors(eye, target, up)
    forward = target - eye
    forward_norm = forward.norm(dim=-1, keepdim=True)
    if bool((forward_norm == 0).any()):
        raise ValueError("look_at: eye and target coincide")
    forward = forward / forward_norm
    # z forward, y down: x = y cross z = (-up) cross z = z cross up
    right = torch.cross(forward, up, dim=-1)
    right_norm = right.norm(dim=-1, keepdim=True)
    if bool((right_norm <= 1e-8 * up.norm(dim=-1, keepdim=True)).any()):
        raise ValueError("look_at: up is parallel to the viewing direction")
    right = right / right_norm
    down = torch.cross(forward, right, dim=-1)
    pose = torch.zeros(eye.shape[:-1] + (4, 4), dtype=eye.dtype, device=eye.device)
    pose[..., :3, 0] = right
    pose[..., :3, 1] = down
    pose[..., :3, 2] = forward
    pose[..., :3, 3] = eye
    pose[..., 3, 3] = 1.0
    return pose


def opengl_to_opencv(cam_to_world):
    """Camera-to-world ``(..., 4, 4)`` with OpenGL camera axes (nerfstudio, Blender) -> OpenCV camera axes.

    Negates the 2nd and 3rd columns (the camera's y and z axes): ``cam_to_world @ diag(1, -1, -1, 1)``. The
    map is its own inverse, so it also converts OpenCV -> OpenGL (:func:`opencv_to_opengl`). Takes a torch
    tensor or a NumPy array and returns the same kind and dtype.
    """
    if not isinstance(cam_to_world, torch.Tensor):
        cam_to_world = np.asarray(cam_to_world)
    _check_pose("cam_to_world", cam_to_world)
    if isinstance(cam_to_world, torch.Tensor):
        flip = torch.diag(torch.tensor(_GL_CV_FLIP, dtype=cam_to_world.dtype, device=cam_to_world.device))
    else:
        flip = np.diag(np.asarray(_GL_CV_FLIP, dtype=cam_to_world.dtype))
    return cam_to_world @ flip


# the flip is an involution: one map, named for the direction a caller converts in
opencv_to_opengl = opengl_to_opencv


def relative_poses(cam_to_world: torch.Tensor) -> torch.Tensor:
    """All pairs' relative poses ``(..., V, V, 4, 4)``: entry ``[i, j] = T_i^-1 T_j`` for ``(..., V, 4, 4)``
    camera-to-world poses (rigid)."""
    if cam_to_world.shape[-2:] != (4, 4):
        raise ValueError(f"cam_to_world must have shape (..., V, 4, 4), got {tuple(cam_to_world.shape)}")
    return invert_pose(cam_to_world)[..., :, None, :, :] @ cam_to_world[..., None, :, :, :]


def pair_mask(num_views: int, device=None) -> torch.Tensor:
    """``(V, V)`` bool, True off the diagonal: the ordered pairs ``i != j`` of :func:`relative_poses`."""
    return ~torch.eye(num_views, dtype=torch.bool, device=device)


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
    """Angle ``(...)`` in radians, in [0, pi], between vectors ``(..., 3)`` (e.g. relative translations);
    0 if either is zero."""
    cross = torch.linalg.vector_norm(torch.cross(a, b, dim=-1), dim=-1)
    return torch.atan2(cross, (a * b).sum(-1))


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

    Computed by SVD, with a backward that stays finite when singular values coincide. Always in at least
    float32, outside autocast: SVD and the determinant have no bfloat16 / float16 kernels, so a low-precision
    ``matrix`` (a camera head under bf16 autocast) gives a float32 rotation.
    """
    if matrix.shape[-2:] != (3, 3):
        raise ValueError(f"matrix must have shape (..., 3, 3), got {tuple(matrix.shape)}")
    if matrix.dtype in (torch.bfloat16, torch.float16) or torch.is_autocast_enabled(matrix.device.type):
        with torch.autocast(matrix.device.type, enabled=False):
            return _SpecialOrthonormalize.apply(matrix.float() if matrix.dtype != torch.float64 else matrix)
    return _SpecialOrthonormalize.apply(matrix)


def quaternion_to_rotation(quaternion) -> np.ndarray:
    """Quaternion ``(w, x, y, z)`` (4,) -> ``(3, 3)`` float64 rotation matrix; normalised first, so any
    non-zero quaternion is accepted."""
    w, x, y, z = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_to_quaternion(rotation) -> np.ndarray:
    """``(3, 3)`` rotation matrix -> unit quaternion ``(w, x, y, z)`` float64 with ``w >= 0``.

    Uses the largest of the four squared components as pivot, which keeps it accurate for every angle.
    """
    r = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(r)
    squares = np.array(
        [1 + trace, 1 + r[0, 0] - r[1, 1] - r[2, 2], 1 - r[0, 0] + r[1, 1] - r[2, 2], 1 - r[0, 0] - r[1, 1] + r[2, 2]]
    )
    pivot = int(np.argmax(squares))
    s = 2.0 * np.sqrt(squares[pivot])  # = 4 * |q_pivot|
    if pivot == 0:
        q = [s / 4, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif pivot == 1:
        q = [(r[2, 1] - r[1, 2]) / s, s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif pivot == 2:
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s]
    else:
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4]
    q = np.array(q) / np.linalg.norm(q)
    return -q if q[0] < 0 else q
