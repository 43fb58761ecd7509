"""Coloured point clouds as PLY files (binary little-endian), readable by MeshLab, CloudCompare, Open3D and
Blender; an optional per-point ``confidence`` (float) is a scalar field in CloudCompare and MeshLab."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

# one vertex: x, y, z as float32, then red, green, blue as uint8 (15 bytes, no padding), then optionally
# the confidence as float32 (19 bytes)
VERTEX_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
CONFIDENT_VERTEX_DTYPE = np.dtype(VERTEX_DTYPE.descr + [("confidence", "<f4")])
_PLY_TYPES = {"<f4": "float", "u1": "uchar"}


class PointCloud(NamedTuple):
    """What :func:`read_ply` returns: ``points (N, 3)`` float32, ``colors (N, 3)`` uint8 and
    ``confidence (N,)`` float32, or None for a file without one."""

    points: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray | None


def _header(dtype: np.dtype, count: int) -> bytes:
    properties = "".join(
        f"property {_PLY_TYPES[dtype.fields[name][0].str.replace('|', '')]} {name}\n" for name in dtype.names
    )
    return (
        "ply\nformat binary_little_endian 1.0\ncomment written by muskie\n"
        f"element vertex {count}\n{properties}end_header\n"
    ).encode("ascii")


def write_ply(path: str | Path, points, colors, confidence=None) -> Path:
    """Write ``points (N, 3)`` (float, any unit) with ``colors (N, 3)`` (uint8, or float in [0, 1]) and,
    when given, ``confidence (N,)`` (float) to ``path``; returns it. Non-finite points are refused."""
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
    dtype = VERTEX_DTYPE
    if confidence is not None:
        confidence = np.asarray(confidence, dtype=np.float64)
        if confidence.shape != (len(points),):
            raise ValueError(f"confidence must have shape ({len(points)},), got {confidence.shape}")
        dtype = CONFIDENT_VERTEX_DTYPE
    vertices = np.empty(len(points), dtype=dtype)
    for axis, name in enumerate("xyz"):
        vertices[name] = points[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = colors[:, channel]
    if confidence is not None:
        vertices["confidence"] = confidence
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(_header(dtype, len(points)))
        handle.write(vertices.tobytes())
    return path


def read_ply(path: str | Path) -> PointCloud:
    """Read back a file of :func:`write_ply` (with or without confidence).

    Raises FileNotFoundError, or ValueError for another layout than ``write_ply``'s.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise ValueError(f"{path}: not a PLY file")
    lines = data[:end].decode("ascii", errors="replace").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise ValueError(f"{path}: only binary little-endian PLY files are read")
    counts = [line.split()[2] for line in lines if line.startswith("element vertex") and len(line.split()) == 3]
    if len(counts) != 1 or not counts[0].isdigit():
        raise ValueError(f"{path}: no vertex element")
    count = int(counts[0])
    properties = [line for line in lines if line.startswith("property")]
    layouts = [
        dtype
        for dtype in (VERTEX_DTYPE, CONFIDENT_VERTEX_DTYPE)
        if _header(dtype, count).decode("ascii").splitlines()[4:-1] == properties
    ]
    if not layouts:
        raise ValueError(f"{path}: vertex properties {properties} are not write_ply's")
    dtype = layouts[0]
    body = data[end + len(b"end_header\n") :]
    if len(body) != count * dtype.itemsize:
        raise ValueError(f"{path}: {len(body)} bytes of vertex data, expected {count} x {dtype.itemsize}")
    vertices = np.frombuffer(body, dtype=dtype)
    points = np.stack([vertices[n] for n in "xyz"], axis=1)
    colors = np.stack([vertices[n] for n in ("red", "green", "blue")], axis=1)
    confidence = np.array(vertices["confidence"]) if "confidence" in dtype.names else None
    return PointCloud(points, colors, confidence)
