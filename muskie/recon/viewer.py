"""A self-contained HTML viewer of a point cloud and its cameras: one ``.html`` file that opens offline in
any browser, with our own canvas-2D script inline (``viewer.js``, no WebGL, no library, nothing fetched).

Drag to orbit, shift-drag or right-drag to pan, the wheel to zoom, ``+`` / ``-`` for the point size, ``r``
to reset. The points are stored as float32 and uint8 (15 bytes each, base64 in the page); a cloud of more
than ``max_points`` (default :data:`MAX_VIEWER_POINTS`) is subsampled at random (seeded), so a page holds
at most about 4 MB of points. Cameras are frusta in the colours of :func:`muskie.recon.render.render_point_cloud`
(view 0 red); the first view is :func:`muskie.recon.render.overview_viewpoint`'s.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from pathlib import Path

import numpy as np

from muskie.geometry import transform_points
from muskie.recon.render import (
    BACKGROUND,
    camera_colors,
    frustum_depth,
    frustum_segments,
    overview_camera,
    overview_viewpoint,
)

MAX_VIEWER_POINTS = 200_000

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
html, body {{ margin: 0; height: 100%; overflow: hidden; background: rgb({background}); }}
canvas {{ display: block; cursor: grab; }}
#status {{ position: fixed; left: 8px; bottom: 6px; color: #bbb; font: 12px sans-serif; pointer-events: none; }}
</style>
</head>
<body>
<canvas id="view"></canvas>
<div id="status"></div>
<script type="application/json" id="scene">{scene}</script>
<script>
{script}
</script>
</body>
</html>
"""


def _field_of_view(points: np.ndarray, cam_to_world: np.ndarray) -> float:
    """Degrees of vertical view from the first viewpoint that fit 98% of the points in 90% of a square view."""
    view_points = transform_points(overview_camera(points, cam_to_world), points)
    in_front = view_points[:, 2] > 1e-6
    if not in_front.any():
        return 60.0
    slopes = np.abs(view_points[in_front, :2] / view_points[in_front, 2:3])
    extent = float(np.percentile(slopes, 98, axis=0).max())
    return float(np.clip(np.degrees(2 * np.arctan(extent / 0.9)), 20.0, 120.0))


def viewer_html(
    points,
    colors,
    cam_to_world,
    intrinsics,
    image_size: tuple[int, int],
    max_points: int = MAX_VIEWER_POINTS,
    title: str = "muskie reconstruction",
    seed: int = 0,
) -> str:
    """The viewer page (module docstring) of ``points (N, 3)`` world, ``colors (N, 3)`` (uint8 or float in
    [0, 1]) and the cameras ``cam_to_world (V, 4, 4)`` (OpenCV axes) with ``intrinsics (V, 3, 3)`` for
    images of ``image_size`` = (H, W) pixels."""
    points = np.asarray(points, dtype=np.float64)
    colors = np.asarray(colors)
    cam_to_world = np.asarray(cam_to_world, dtype=np.float64)
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0 or colors.shape != points.shape:
        raise ValueError(
            f"need points (N, 3), N >= 1, and colors of the same shape; got {points.shape}, {colors.shape}"
        )
    if not np.all(np.isfinite(points)):
        raise ValueError("points has non-finite coordinates")
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if colors.dtype != np.uint8:
        colors = np.round(np.clip(colors.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    if len(points) > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(len(points), size=max_points, replace=False))
        points, colors = points[chosen], colors[chosen]
    eye, target, up = overview_viewpoint(points, cam_to_world)
    depth = frustum_depth(points, cam_to_world)
    cameras = [
        {"color": color.tolist(), "segments": frustum_segments(pose, k, image_size, depth).round(6).tolist()}
        for pose, k, color in zip(cam_to_world, intrinsics, camera_colors(len(cam_to_world)), strict=True)
    ]
    scene = {
        "count": len(points),
        "positions": base64.b64encode(points.astype("<f4").tobytes()).decode("ascii"),
        "colors": base64.b64encode(np.ascontiguousarray(colors).tobytes()).decode("ascii"),
        "eye": eye.tolist(),
        "target": target.tolist(),
        "up": up.tolist(),
        "fov_degrees": _field_of_view(points, cam_to_world),
        "background": list(BACKGROUND),
        "cameras": cameras,
    }
    script = resources.files("muskie.recon").joinpath("viewer.js").read_text(encoding="utf-8")
    # the JSON holds numbers, base64 and fixed keys only, so it cannot close its <script> element
    return _PAGE.format(
        title=html.escape(title),
        background=",".join(map(str, BACKGROUND)),
        scene=json.dumps(scene, separators=(",", ":")),
        script=script,
    )


def write_viewer(
    path: str | Path,
    points,
    colors,
    cam_to_world,
    intrinsics,
    image_size: tuple[int, int],
    max_points: int = MAX_VIEWER_POINTS,
    title: str = "muskie reconstruction",
) -> Path:
    """Write :func:`viewer_html` to ``path`` (UTF-8); returns it."""
    path = Path(path)
    path.write_text(
        viewer_html(points, colors, cam_to_world, intrinsics, image_size, max_points, title), encoding="utf-8"
    )
    return path
