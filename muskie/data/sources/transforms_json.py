"""Scenes in the nerfstudio / instant-ngp ``transforms.json`` convention.

A scene folder holds ``transforms.json`` and the images it names. The json gives, globally or per frame
(per-frame values win), pinhole intrinsics ``fl_x, fl_y, cx, cy`` in pixels (pixel centres at integer
coordinates, as nerfstudio and our convention have it) and the image size ``w, h``; instant-ngp's
``camera_angle_x`` (horizontal field of view, radians) stands in for a missing ``fl_x``. Each frame has
``file_path`` and ``transform_matrix``: camera-to-world in OpenGL camera axes (x right, y up, z backwards),
converted here to OpenCV axes by negating its 2nd and 3rd columns. Optional ``depth_file_path`` names a
depth map whose stored values times ``depth_unit_scale_factor`` (default 0.001, nerfstudio's) are z-depths.
Distortion coefficients (``k1``...) are ignored, with a warning when non-zero. The files a json names must lie
inside its folder, symlinks resolved (``allow_outside`` lifts this), and its poses must be rigid.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from muskie.data.dataset_paths import path_inside
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.sources.json_file import read_json
from muskie.geometry import opencv_to_opengl, opengl_to_opencv

TRANSFORMS_FILE = "transforms.json"
DEFAULT_DEPTH_UNIT_SCALE = 1e-3
_DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
# Suffixes tried when ``file_path`` has none (instant-ngp's NeRF-synthetic files omit it).
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")
# 16-bit PNG depth: the largest storable number of steps
_MAX_DEPTH_STEPS = 65535


def _find_json(scene_dir: str | Path) -> Path:
    path = Path(scene_dir)
    if path.is_dir():
        path = path / TRANSFORMS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected a scene folder holding {TRANSFORMS_FILE})")
    return path


def _resolve_image(root: Path, file_path: str, where: str, allow_outside: bool) -> Path:
    """The image ``file_path`` names, inside ``root`` unless ``allow_outside``; a path without a suffix takes
    the first of ``_IMAGE_SUFFIXES`` that exists."""
    path = path_inside(root, file_path, where, allow_outside)
    if path.suffix == "" and not path.exists():
        for suffix in _IMAGE_SUFFIXES:
            if path.with_suffix(suffix).exists():
                return path_inside(root, file_path + suffix, where, allow_outside)
    return path


def _number(entry: dict, key: str, where: str) -> float:
    value = entry[key]
    # JSON integers are unbounded: one too large for a float64 is no finite number either
    finite = isinstance(value, float) and math.isfinite(value) or isinstance(value, int) and abs(value) < 2**1023
    if isinstance(value, bool) or not finite:
        raise ValueError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def read_transforms_json(scene_dir: str | Path, allow_outside: bool = False) -> Scene:
    """Read a ``transforms.json`` scene.

    Args:
        scene_dir: the scene folder, or the json file itself.
        allow_outside: accept ``file_path`` / ``depth_file_path`` values that lead outside the json's folder
            (absolute, ``..``, or through a symlink).

    Returns:
        ``Scene`` named after the folder, frames in the json's order, every frame with intrinsics and an
        OpenCV camera-to-world pose; image paths are not opened unless ``w``/``h`` are missing.

    Raises:
        FileNotFoundError: no json at ``scene_dir``.
        ValueError: the json is malformed or lacks a required entry, a path leads outside the folder, a pose
            is not rigid (the message names file and frame).
    """
    json_path = _find_json(scene_dir)
    root = json_path.parent
    meta = read_json(json_path)
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
        raise ValueError(f"{json_path}: expected an object with a 'frames' list")
    if not meta["frames"]:
        raise ValueError(f"{json_path}: 'frames' is empty")
    depth_scale = DEFAULT_DEPTH_UNIT_SCALE
    if "depth_unit_scale_factor" in meta:
        depth_scale = _number(meta, "depth_unit_scale_factor", str(json_path))

    frames = []
    distorted = False
    for index, entry in enumerate(meta["frames"]):
        where = f"{json_path}: frame {index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
        merged = {**meta, **entry}
        if not isinstance(merged.get("file_path"), str):
            raise ValueError(f"{where}: missing 'file_path'")
        where = f"{json_path}: frame {index} ({merged['file_path']})"
        image_path = _resolve_image(root, merged["file_path"], f"{where}: file_path", allow_outside)

        if "w" in merged and "h" in merged:
            width, height = _number(merged, "w", where), _number(merged, "h", where)
        else:
            width, height = image_size(image_path)
        if "fl_x" not in merged and "camera_angle_x" in merged:
            angle = _number(merged, "camera_angle_x", where)
            if not 0 < angle < math.pi:
                raise ValueError(f"{where}: 'camera_angle_x' must be a field of view in (0, pi) radians, got {angle!r}")
            merged["fl_x"] = 0.5 * width / math.tan(0.5 * angle)
        if "fl_y" not in merged and "fl_x" in merged:
            merged["fl_y"] = merged["fl_x"]
        # instant-ngp defaults the principal point to the image centre
        merged.setdefault("cx", (width - 1) / 2.0)
        merged.setdefault("cy", (height - 1) / 2.0)
        for key in ("fl_x", "fl_y", "transform_matrix"):
            if key not in merged:
                raise ValueError(f"{where}: missing '{key}'")
        intrinsics = np.array(
            [
                [_number(merged, "fl_x", where), 0.0, _number(merged, "cx", where)],
                [0.0, _number(merged, "fl_y", where), _number(merged, "cy", where)],
                [0.0, 0.0, 1.0],
            ]
        )
        distorted |= any(merged.get(key, 0) not in (0, 0.0) for key in _DISTORTION_KEYS)

        try:
            matrix = np.array(merged["transform_matrix"], dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"{where}: 'transform_matrix' is not a numeric matrix") from err
        if matrix.shape == (3, 4):
            matrix = np.vstack([matrix, [0.0, 0.0, 0.0, 1.0]])
        if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
            raise ValueError(f"{where}: 'transform_matrix' must be a finite 4x4 or 3x4 matrix")

        depth_path = None
        if isinstance(merged.get("depth_file_path"), str):
            depth_path = path_inside(root, merged["depth_file_path"], f"{where}: depth_file_path", allow_outside)
        try:
            frames.append(
                Frame(
                    image_path=image_path,
                    width=width,
                    height=height,
                    intrinsics=intrinsics,
                    cam_to_world=opengl_to_opencv(matrix),
                    depth_path=depth_path,
                    depth_scale=depth_scale,
                )
            )
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err
    if distorted:
        warnings.warn(f"{json_path}: lens distortion coefficients are ignored (pinhole model used)", stacklevel=2)
    return Scene(name=root.resolve().name, root=root, frames=frames)


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def write_transforms_json(
    scene_dir: str | Path,
    images,
    intrinsics,
    cam_to_world,
    depth=None,
    image_names: list[str] | None = None,
    depth_scale: float = DEFAULT_DEPTH_UNIT_SCALE,
) -> Path:
    """Write a scene folder in the ``transforms.json`` convention (readable by ``read_transforms_json``).

    Args:
        scene_dir: the folder to write (created if missing; existing files of the same names are replaced).
        images: ``(V, 3, H, W)`` float tensor or array, RGB in [0, 1] (clipped), saved as 8-bit PNGs
            ``images/NNN.png``.
        intrinsics: ``(V, 3, 3)`` pinhole ``K`` in pixels, pixel centres at integer coordinates, no skew.
        cam_to_world: ``(V, 4, 4)`` camera-to-world poses, OpenCV axes.
        depth: optional ``(V, H, W)`` z-depth in world units (0 or non-finite = unknown), saved as 16-bit PNGs
            ``depth/NNN.png`` of ``round(depth / depth_scale)`` with ``depth_unit_scale_factor`` = ``depth_scale``;
            at most ``65535 * depth_scale``.
        image_names: optional file stems, one per view (default ``000``, ``001``, ...).
        depth_scale: world units per step of the stored depth; default 0.001 (millimetres of a scene in metres).

    Returns:
        The path of the written json. Cameras are written with full float64 precision, so reading them back
        gives the same matrices.
    """
    scene_dir = Path(scene_dir)
    images = _to_numpy(images)
    intrinsics = _to_numpy(intrinsics)
    cam_to_world = _to_numpy(cam_to_world)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (V, 3, H, W), got {images.shape}")
    num_views, _, height, width = images.shape
    if intrinsics.shape != (num_views, 3, 3):
        raise ValueError(f"intrinsics must have shape ({num_views}, 3, 3), got {intrinsics.shape}")
    if cam_to_world.shape != (num_views, 4, 4):
        raise ValueError(f"cam_to_world must have shape ({num_views}, 4, 4), got {cam_to_world.shape}")
    if np.any(intrinsics[:, 0, 1] != 0) or np.any(intrinsics[:, 1, 0] != 0):
        raise ValueError("intrinsics with skew cannot be written to transforms.json")
    if depth is not None:
        depth = _to_numpy(depth)
        if depth.shape != (num_views, height, width):
            raise ValueError(f"depth must have shape ({num_views}, {height}, {width}), got {depth.shape}")
    names = image_names if image_names is not None else [f"{i:03d}" for i in range(num_views)]
    if len(names) != num_views or len(set(names)) != num_views:
        raise ValueError(f"image_names must be {num_views} distinct names, got {len(names)}")

    (scene_dir / "images").mkdir(parents=True, exist_ok=True)
    if depth is not None:
        (scene_dir / "depth").mkdir(parents=True, exist_ok=True)
    frames = []
    for view, name in enumerate(names):
        pixels = np.clip(images[view].transpose(1, 2, 0), 0.0, 1.0)
        Image.fromarray(np.round(pixels * 255.0).astype(np.uint8)).save(scene_dir / "images" / f"{name}.png")
        k = intrinsics[view]
        frame = {
            "file_path": f"images/{name}.png",
            "w": int(width),
            "h": int(height),
            "fl_x": float(k[0, 0]),
            "fl_y": float(k[1, 1]),
            "cx": float(k[0, 2]),
            "cy": float(k[1, 2]),
            "transform_matrix": opencv_to_opengl(cam_to_world[view]).tolist(),
        }
        if depth is not None:
            steps = np.where(np.isfinite(depth[view]) & (depth[view] > 0), depth[view] / depth_scale, 0.0)
            if np.round(steps.max()) > _MAX_DEPTH_STEPS:
                raise ValueError(
                    f"view {view}: depth {steps.max() * depth_scale:.6g} exceeds "
                    f"{_MAX_DEPTH_STEPS * depth_scale:.6g} (65535 steps of {depth_scale:g})"
                )
            Image.fromarray(np.round(steps).astype(np.uint16)).save(scene_dir / "depth" / f"{name}.png")
            frame["depth_file_path"] = f"depth/{name}.png"
        frames.append(frame)

    meta = {"camera_model": "PINHOLE", "frames": frames}
    if depth is not None:
        meta["depth_unit_scale_factor"] = float(depth_scale)
    json_path = scene_dir / TRANSFORMS_FILE
    json_path.write_text(json.dumps(meta, indent=1))
    return json_path
