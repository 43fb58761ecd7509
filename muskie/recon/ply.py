"""Writing coloured point clouds as PLY files (binary little-endian), readable by MeshLab, CloudCompare,
Open3D and Blender."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# one vertex: x, y, z as float32, then red, green, blue as uint8 (15 bytes, no padding)
VERTEX_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])


def write_ply(path: str | Path, points, colors) -> Path:
    """Write ``points (N, 3)`` (float, any unit) with ``colors (N, 3)`` (uint8, or float in [0, 1]) to
    ``path``; returns it. Non-finite points are refused."""
    points = np.asarray(points, dtype=np.float64)
    colors = np.asarray(colors)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {points.shape}")
    if colors.shape != points.shape:
        raise ValueError(f"colors must have shape {points.shape} like the points, got {colors.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points has non-finite coordinates")
    if colors.dtype != np.uint8:
        colors = np.round(np.clip(colors.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    vertices = np.empty(len(points), dtype=VERTEX_DTYPE)
    for axis, name in enumerate("xyz"):
        vertices[name] = points[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = colors[:, channel]
    header = ("ply\nformat binary_little_endian 1.0\ncomment written by muskie\n"
              f"element vertex {len(points)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(header.encode("ascii"))
        handle.write(vertices.tobytes())
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read back a file of :func:`write_ply`: ``(points (N, 3) float32, colors (N, 3) uint8)``.

    Raises FileNotFoundError, or ValueError for another layout than ``write_ply``'s.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise ValueError(f"{path}: not a PLY file")
    lines = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise ValueError(f"{path}: only binary little-endian PLY files are read")
    counts = [line.split()[2] for line in lines if line.startswith("element vertex")]
    if len(counts) != 1:
        raise ValueError(f"{path}: no vertex element")
    count = int(counts[0])
    body = data[end + len(b"end_header\n"):]
    if len(body) != count * VERTEX_DTYPE.itemsize:
        raise ValueError(f"{path}: {len(body)} bytes of vertex data, expected {count} x {VERTEX_DTYPE.itemsize}")
    vertices = np.frombuffer(body, dtype=VERTEX_DTYPE)
    points = np.stack([vertices[n] for n in "xyz"], axis=1)
    colors = np.stack([vertices[n] for n in ("red", "green", "blue")], axis=1)
    return points, colors
