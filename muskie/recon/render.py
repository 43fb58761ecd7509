"""A software renderer for a point cloud and its cameras: z-buffered point splats, cameras as wireframe
frusta, seen from a viewpoint behind and above the cameras. NumPy only; Pillow makes the image."""

from __future__ import annotations

import colorsys

import numpy as np
import torch
from PIL import Image

from muskie.geometry import invert_pose, look_at, transform_points, unproject

BACKGROUND = (24, 24, 28)


def overview_viewpoint(points: np.ndarray, cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(eye, target, up)`` (each ``(3,)`` world) of a viewpoint looking at the cloud's median from behind
    and above the cameras ``(V, 4, 4)``; ``up`` is the cameras' mean "up" (their -y axis)."""
    target = np.median(points, axis=0)
    centres = cam_to_world[:, :3, 3]
    up = -cam_to_world[:, :3, 1].mean(0)
    up = up / max(np.linalg.norm(up), 1e-12)
    offset = centres.mean(0) - target
    distance = np.linalg.norm(offset)
    if distance < 1e-9:  # cameras at the centre of the cloud: step back along their mean viewing direction
        offset = -cam_to_world[:, :3, 2].mean(0)
        distance = np.linalg.norm(offset)
    return target + 1.6 * offset + 0.6 * distance * up, target, up


def overview_camera(points: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """The world-to-camera ``(4, 4)`` (OpenCV axes) of :func:`overview_viewpoint`."""
    eye, target, up = (torch.from_numpy(v) for v in overview_viewpoint(points, cam_to_world))
    return invert_pose(look_at(eye, target, up).numpy())


def camera_colors(count: int) -> np.ndarray:
    """``(count, 3)`` uint8 colours of the cameras: view 0 red, the others along the hue circle."""
    hues = [0.0 if view == 0 else 0.15 + 0.7 * view / max(count - 1, 1) for view in range(count)]
    rgb = np.array([colorsys.hsv_to_rgb(hue, 0.8, 1.0) for hue in hues]).reshape(-1, 3)
    return np.round(rgb * 255).astype(np.uint8)


def frustum_depth(points: np.ndarray, cam_to_world: np.ndarray) -> float:
    """How deep the frusta are drawn: 0.15 times the median distance from the cameras to the points."""
    subset = points[:: max(1, len(points) // 10_000)]  # enough for a median, bounded memory
    return 0.15 * float(np.median(np.linalg.norm(subset[:, None, :] - cam_to_world[None, :, :3, 3], axis=-1)))


def frustum_segments(
    cam_to_world: np.ndarray, intrinsics: np.ndarray, image_size: tuple[int, int], depth: float
) -> np.ndarray:
    """``(8, 2, 3)`` world segments of one camera's frustum: centre to the 4 image corners at ``depth``,
    and the rectangle joining the corners."""
    height, width = image_size
    corners = torch.tensor([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=torch.float64)
    depths = torch.full((4,), float(depth), dtype=torch.float64)
    world = unproject(corners, depths, torch.from_numpy(intrinsics), torch.from_numpy(cam_to_world)).numpy()
    centre = cam_to_world[:3, 3]
    segments = [(centre, corner) for corner in world] + [(world[k], world[(k + 1) % 4]) for k in range(4)]
    return np.array(segments)


def render_point_cloud(
    points,
    colors,
    cam_to_world,
    intrinsics,
    image_size: tuple[int, int],
    size: tuple[int, int] = (480, 640),
    point_size: int = 2,
) -> Image.Image:
    """Draw a coloured cloud and the cameras that saw it.

    Args:
        points: ``(N, 3)`` world points; colors: ``(N, 3)`` uint8 or float in [0, 1].
        cam_to_world: ``(V, 4, 4)`` poses (OpenCV axes), drawn as frusta, one colour per camera (view 0 red);
        intrinsics: ``(V, 3, 3)`` their ``K`` for images of ``image_size`` = (H, W) pixels.
        size: the rendering's (height, width) in pixels; point_size: splat side in pixels.

    Returns:
        An RGB ``PIL.Image`` of ``size``; nearer points hide farther ones, frusta are drawn on top.
    """
    points = np.asarray(points, dtype=np.float64)
    colors = np.asarray(colors)
    if colors.dtype != np.uint8:
        colors = np.round(np.clip(colors, 0.0, 1.0) * 255.0).astype(np.uint8)
    cam_to_world = np.asarray(cam_to_world, dtype=np.float64)
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0 or colors.shape != points.shape:
        raise ValueError(
            f"need points (N, 3), N >= 1, and colors of the same shape; got {points.shape}, {colors.shape}"
        )
    height, width = size
    world_to_camera = overview_camera(points, cam_to_world)

    def to_view(world: np.ndarray) -> np.ndarray:
        return transform_points(world_to_camera, world)

    view_points = to_view(points)
    in_front = view_points[:, 2] > 1e-6
    if not in_front.any():
        raise ValueError("no point lies in front of the rendering viewpoint")
    # a focal length that fits 98% of the visible points into 90% of the image
    slopes = np.abs(view_points[in_front, :2] / view_points[in_front, 2:3])
    extent = np.percentile(slopes, 98, axis=0).clip(min=1e-6)
    focal = 0.45 * min(width / extent[0], height / extent[1])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])

    def project(view: np.ndarray) -> np.ndarray:
        return focal * view[:, :2] / view[:, 2:3] + centre

    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    pixels = np.round(project(view_points[in_front])).astype(np.int64)
    depth = view_points[in_front, 2]
    point_colors = colors[in_front]
    offsets = [(dy, dx) for dy in range(point_size) for dx in range(point_size)]
    rows = np.concatenate([pixels[:, 1] + dy for dy, _ in offsets])
    cols = np.concatenate([pixels[:, 0] + dx for _, dx in offsets])
    depth = np.tile(depth, len(offsets))
    point_colors = np.tile(point_colors, (len(offsets), 1))
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    flat = rows[inside] * width + cols[inside]
    # z-buffer: for each pixel keep the nearest splat
    order = np.lexsort((depth[inside], flat))
    flat, chosen = flat[order], point_colors[inside][order]
    first = np.unique(flat, return_index=True)[1]
    canvas.reshape(-1, 3)[flat[first]] = chosen[first]

    frustum = frustum_depth(points, cam_to_world)
    for view, color in enumerate(camera_colors(len(cam_to_world))):
        segments = frustum_segments(cam_to_world[view], intrinsics[view], image_size, frustum)
        for start, end in segments:
            samples = to_view(start + np.linspace(0.0, 1.0, 2 * (height + width))[:, None] * (end - start))
            samples = samples[samples[:, 2] > 1e-6]
            if len(samples) == 0:
                continue
            line = np.round(project(samples)).astype(np.int64)
            keep = (line[:, 0] >= 0) & (line[:, 0] < width) & (line[:, 1] >= 0) & (line[:, 1] < height)
            canvas[line[keep, 1], line[keep, 0]] = color
    return Image.fromarray(canvas)
