"""Camera math: the one home for projection, unprojection and pose conventions.

Convention (see ``muskie.constants``): OpenCV camera axes (x right, y down, z forward); intrinsics ``K`` in
pixels with pixel centres at integer coordinates (pixel ``(row i, column j)`` has centre ``u = j, v = i``);
poses camera-to-world ``(4, 4)``. Depth is z-depth: the point's coordinate along the camera's optical axis,
not its distance from the camera centre.

Every function takes torch tensors of any float dtype with arbitrary leading batch dimensions that broadcast
against each other, and returns tensors of the promoted dtype on the inputs' device.
"""

from __future__ import annotations

import torch

# OpenGL camera axes (x right, y up, z backwards) differ from OpenCV's by flipping y and z.
_GL_CV_FLIP = (1.0, -1.0, -1.0, 1.0)


def pixel_grid(height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Pixel-centre coordinates ``(H, W, 2)`` as ``(u, v) = (column, row)``, integers at pixel centres."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([u, v], dim=-1)


def intrinsics_from_fov(fov_degrees, height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Pinhole ``K (..., 3, 3)`` with square pixels and the principal point at the image centre.

    Args:
        fov_degrees: float or tensor ``(...)``: field of view across the *larger* image side, in degrees, so
            a view keeps its scale when its aspect ratio changes.
        height, width: image size in pixels.
    """
    fov = torch.as_tensor(fov_degrees, dtype=dtype, device=device)
    focal = 0.5 * max(height, width) / torch.tan(torch.deg2rad(fov) / 2)
    K = torch.zeros(fov.shape + (3, 3), dtype=dtype, device=device)
    K[..., 0, 0] = focal
    K[..., 1, 1] = focal
    K[..., 0, 2] = (width - 1) / 2
    K[..., 1, 2] = (height - 1) / 2
    K[..., 2, 2] = 1.0
    return K


def invert_pose(pose: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms ``(..., 4, 4)`` (rotation + translation), e.g. cam_to_world -> world_to_cam.

    Uses ``R^T`` rather than a general inverse: exact for rigid poses and cheaper.
    """
    if pose.shape[-2:] != (4, 4):
        raise ValueError(f"pose must have shape (..., 4, 4), got {tuple(pose.shape)}")
    rotation_t = pose[..., :3, :3].transpose(-1, -2)
    inverse = torch.zeros_like(pose)
    inverse[..., :3, :3] = rotation_t
    inverse[..., :3, 3] = -(rotation_t @ pose[..., :3, 3:4])[..., 0]
    inverse[..., 3, 3] = 1.0
    return inverse


def opengl_to_opencv(cam_to_world: torch.Tensor) -> torch.Tensor:
    """Camera-to-world ``(..., 4, 4)`` with OpenGL camera axes (nerfstudio, Blender) -> OpenCV camera axes.

    Negates the 2nd and 3rd columns (the camera's y and z axes). The map is its own inverse.
    """
    if cam_to_world.shape[-2:] != (4, 4):
        raise ValueError(f"cam_to_world must have shape (..., 4, 4), got {tuple(cam_to_world.shape)}")
    flip = torch.tensor(_GL_CV_FLIP, dtype=cam_to_world.dtype, device=cam_to_world.device)
    return cam_to_world * flip


def opencv_to_opengl(cam_to_world: torch.Tensor) -> torch.Tensor:
    """Camera-to-world ``(..., 4, 4)`` with OpenCV camera axes -> OpenGL camera axes (see ``opengl_to_opencv``)."""
    return opengl_to_opencv(cam_to_world)


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


def camera_rays(K: torch.Tensor, cam_to_world: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """World rays through every pixel centre.

    Args:
        K: ``(..., 3, 3)`` intrinsics; cam_to_world: ``(..., 4, 4)``.

    Returns:
        origins ``(..., 3)``: the camera centres; directions ``(..., H, W, 3)``: world directions scaled so
        that their camera-frame z component is 1, so a point at ray parameter ``t`` has z-depth ``t``.
    """
    dtype = torch.promote_types(K.dtype, cam_to_world.dtype)
    uv = pixel_grid(height, width, dtype=dtype, device=K.device)
    uv1 = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)  # (H, W, 3)
    cam_dirs = uv1 @ torch.linalg.inv(K.to(dtype)).transpose(-1, -2)[..., None, :, :]  # (..., H, W, 3)
    rotation = cam_to_world[..., :3, :3].to(dtype)
    directions = cam_dirs @ rotation.transpose(-1, -2)[..., None, :, :]
    return cam_to_world[..., :3, 3].to(dtype), directions


def unproject_depth(depth: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor) -> torch.Tensor:
    """Lift every pixel to the world with its z-depth.

    Args:
        depth: ``(..., H, W)`` z-depth in world units (any value; invalid pixels give meaningless points).
        K: ``(..., 3, 3)`` intrinsics in pixels; cam_to_world: ``(..., 4, 4)`` OpenCV axes.

    Returns:
        points ``(..., H, W, 3)`` in world coordinates.
    """
    if depth.ndim < 2:
        raise ValueError(f"depth must have shape (..., H, W), got {tuple(depth.shape)}")
    _check_camera(K, cam_to_world)
    height, width = depth.shape[-2:]
    origins, directions = camera_rays(K, cam_to_world, height, width)
    return origins[..., None, None, :] + depth[..., None] * directions


def project_points(points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points into a camera.

    Args:
        points: ``(..., N, 3)`` world coordinates.
        K: ``(..., 3, 3)`` intrinsics in pixels; cam_to_world: ``(..., 4, 4)`` OpenCV axes.

    Returns:
        uv ``(..., N, 2)``: pixel coordinates (column, row; pixel centres at integers), meaningless where
        ``z <= 0``; z ``(..., N)``: z-depth in the camera (negative behind it).
    """
    if points.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., N, 3), got {tuple(points.shape)}")
    _check_camera(K, cam_to_world)
    world_to_cam = invert_pose(cam_to_world)
    cam = points @ world_to_cam[..., :3, :3].transpose(-1, -2) + world_to_cam[..., None, :3, 3]
    z = cam[..., 2]
    pixels = cam @ K.transpose(-1, -2)
    uv = pixels[..., :2] / z[..., None]
    return uv, z


def covisible(
    depth_src: torch.Tensor,
    K_src: torch.Tensor,
    cam_to_world_src: torch.Tensor,
    depth_dst: torch.Tensor,
    K_dst: torch.Tensor,
    cam_to_world_dst: torch.Tensor,
    valid_src: torch.Tensor | None = None,
    valid_dst: torch.Tensor | None = None,
    tolerance: float = 0.05,
) -> torch.Tensor:
    """Which pixels of a source view are seen by a destination view.

    A source pixel is covisible when its lifted point projects inside the destination image, in front of
    the camera, and is not occluded there: its depth is at most the destination's depth at the nearest pixel
    plus ``tolerance`` (world units; 5 cm in metric scenes, as the correspondence benchmarks use).

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
    height_dst, width_dst = depth_dst.shape[-2:]
    points = unproject_depth(depth_src, K_src, cam_to_world_src).flatten(-3, -2)
    uv, z = project_points(points, K_dst, cam_to_world_dst)
    column = torch.round(uv[..., 0])
    row = torch.round(uv[..., 1])
    inside = (z > 0) & (column >= 0) & (column <= width_dst - 1) & (row >= 0) & (row <= height_dst - 1)
    flat_index = (row.clamp(0, height_dst - 1) * width_dst + column.clamp(0, width_dst - 1)).long()
    flat_index = torch.where(inside, flat_index, torch.zeros_like(flat_index))
    depth_there = torch.gather(depth_dst.flatten(-2).expand(flat_index.shape[:-1] + (-1,)), -1, flat_index)
    valid_there = torch.gather(valid_dst.flatten(-2).expand(flat_index.shape[:-1] + (-1,)), -1, flat_index)
    seen = inside & valid_there & (z <= depth_there + tolerance)
    return (seen & valid_src.flatten(-2)).unflatten(-1, (height, width))


def _check_camera(K: torch.Tensor, cam_to_world: torch.Tensor) -> None:
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"K must have shape (..., 3, 3), got {tuple(K.shape)}")
    if cam_to_world.shape[-2:] != (4, 4):
        raise ValueError(f"cam_to_world must have shape (..., 4, 4), got {tuple(cam_to_world.shape)}")
