"""Pinhole cameras: pixel grids, intrinsics, rays, projection, unprojection, nearest-pixel lookups, depth
transferred between cameras.

Every function takes torch tensors of any float dtype with leading batch dimensions that broadcast against
each other, and returns tensors of the promoted dtype on the inputs' device (conventions: ``muskie.geometry``).
"""

from __future__ import annotations

import torch

from muskie.geometry.poses import invert_pose, transform_points


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


def pixel_rays(uv: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor) -> torch.Tensor:
    """World directions ``(..., N, 3)`` of the rays through pixels ``uv (..., N, 2)`` (column, row), scaled so
    that their camera-frame z component is 1: the point at ray parameter ``t`` has z-depth ``t``.

    Args:
        K: ``(..., 3, 3)`` intrinsics in pixels; cam_to_world: ``(..., 4, 4)`` OpenCV axes.
    """
    dtype = torch.promote_types(torch.promote_types(uv.dtype, K.dtype), cam_to_world.dtype)
    uv = uv.to(dtype)
    uv1 = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
    cam_dirs = uv1 @ torch.linalg.inv(K.to(dtype)).transpose(-1, -2)
    return cam_dirs @ cam_to_world[..., :3, :3].to(dtype).transpose(-1, -2)


def camera_rays(
    K: torch.Tensor, cam_to_world: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """World rays through every pixel centre.

    Args:
        K: ``(..., 3, 3)`` intrinsics; cam_to_world: ``(..., 4, 4)``.

    Returns:
        origins ``(..., 3)``: the camera centres; directions ``(..., H, W, 3)``: world directions scaled so
        that their camera-frame z component is 1, so a point at ray parameter ``t`` has z-depth ``t``.
    """
    dtype = torch.promote_types(K.dtype, cam_to_world.dtype)
    uv = pixel_grid(height, width, dtype=dtype, device=K.device).reshape(-1, 2)
    directions = pixel_rays(uv, K, cam_to_world).unflatten(-2, (height, width))
    return cam_to_world[..., :3, 3].to(dtype), directions


def unproject(uv: torch.Tensor, z: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor) -> torch.Tensor:
    """World points ``(..., N, 3)`` of pixels ``uv (..., N, 2)`` (column, row) at z-depths ``z (..., N)``.

    Args:
        K: ``(..., 3, 3)`` intrinsics in pixels; cam_to_world: ``(..., 4, 4)`` OpenCV axes.
    """
    _check_camera(K, cam_to_world)
    directions = pixel_rays(uv, K, cam_to_world)
    origins = cam_to_world[..., :3, 3].to(directions.dtype)
    return origins[..., None, :] + z[..., None] * directions


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
    dtype = torch.promote_types(K.dtype, cam_to_world.dtype)
    uv = pixel_grid(height, width, dtype=dtype, device=K.device).reshape(-1, 2)
    return unproject(uv, depth.flatten(-2), K, cam_to_world).unflatten(-2, (height, width))


def project_points(
    points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
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
    cam = transform_points(invert_pose(cam_to_world), points)
    z = cam[..., 2]
    pixels = cam @ K.transpose(-1, -2)
    uv = pixels[..., :2] / z[..., None]
    return uv, z


def nearest_pixel(uv: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel nearest to each of ``uv (..., 2)`` (column, row) in an ``height x width`` image.

    Returns:
        index ``(...)`` long: the flat index ``row * width + column`` of the nearest pixel, clamped into the
        image (meaningless where ``uv`` is NaN); inside ``(...)`` bool: the nearest pixel lies in the image.
    """
    column, row = torch.round(uv[..., 0]), torch.round(uv[..., 1])
    inside = (column >= 0) & (column <= width - 1) & (row >= 0) & (row <= height - 1)
    index = row.clamp(0, height - 1).long() * width + column.clamp(0, width - 1).long()
    return index, inside


def gather_pixels(image: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Values ``(..., N)`` of ``image (..., H, W)`` at flat pixel indices ``index (..., N)`` (as
    :func:`nearest_pixel` gives them); the leading dimensions broadcast."""
    batch = torch.broadcast_shapes(image.shape[:-2], index.shape[:-1])
    return torch.gather(image.flatten(-2).expand(batch + (-1,)), -1, index.expand(batch + index.shape[-1:]))


def lift_pixels(
    uv: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """World points ``(..., N, 3)`` of pixels ``uv (..., N, 2)`` lifted with the z-depth of their nearest
    pixel (clamped into the image), and ``(..., N)`` bool: that pixel has valid depth.

    Args:
        depth: ``(..., H, W)`` z-depth; valid: ``(..., H, W)`` bool; K: ``(..., 3, 3)``;
        cam_to_world: ``(..., 4, 4)`` OpenCV axes.
    """
    height, width = depth.shape[-2:]
    index, _ = nearest_pixel(uv, height, width)
    return unproject(uv, gather_pixels(depth, index), K, cam_to_world), gather_pixels(valid, index)


def transfer_depth(
    depth: torch.Tensor,
    K_source: torch.Tensor,
    source_to_target: torch.Tensor,
    K_target: torch.Tensor,
    target_size: tuple[int, int],
) -> torch.Tensor:
    """The z-depth map a second camera would see of the points of a depth map (a depth sensor's map
    registered to a colour camera, for instance).

    Every pixel with depth > 0 is lifted with ``K_source``, moved into the target camera by
    ``source_to_target`` and splatted to its nearest target pixel; where several land on one pixel the
    nearest wins (a z-buffer). Target pixels nothing lands on get 0 (no depth).

    Args:
        depth: ``(H, W)`` z-depth of the source camera, 0 = none.
        K_source, K_target: ``(3, 3)`` intrinsics in pixels.
        source_to_target: ``(4, 4)`` rigid transform from source to target camera coordinates (OpenCV axes).
        target_size: ``(H', W')`` of the target image.

    Returns:
        ``(H', W')`` z-depth in the target camera, in the source's units and dtype, 0 = none.
    """
    if depth.ndim != 2:
        raise ValueError(f"depth must have shape (H, W), got {tuple(depth.shape)}")
    _check_camera(K_source, source_to_target)
    _check_camera(K_target, source_to_target)
    height, width = target_size
    valid = depth > 0
    uv = pixel_grid(*depth.shape, dtype=torch.float64, device=depth.device)[valid]
    identity = torch.eye(4, dtype=torch.float64, device=depth.device)
    points = unproject(uv, depth[valid].double(), K_source.double(), identity)
    # the target camera's pose in source coordinates is the inverse of source_to_target
    target_uv, z = project_points(points, K_target.double(), invert_pose(source_to_target.double()))
    index, inside = nearest_pixel(target_uv, height, width)
    keep = inside & (z > 0)
    nearest = torch.full((height * width,), torch.inf, dtype=torch.float64, device=depth.device)
    nearest.scatter_reduce_(0, index[keep], z[keep], reduce="amin")
    return torch.where(torch.isfinite(nearest), nearest, 0.0).reshape(height, width).to(depth.dtype)


def _check_camera(K: torch.Tensor, cam_to_world: torch.Tensor) -> None:
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"K must have shape (..., 3, 3), got {tuple(K.shape)}")
    if cam_to_world.shape[-2:] != (4, 4):
        raise ValueError(f"cam_to_world must have shape (..., 4, 4), got {tuple(cam_to_world.shape)}")
