"""WildRGB-D (RGB-D objects in the wild, iPhone captures) in the layout its authors ship.

Layout (``root`` holds one folder per category)::

    <category>/scenes/<scene>/rgb/00000.png       colour frames, numbered from 0
    <category>/scenes/<scene>/depth/00000.png     uint16 depth in millimetres, 0 = no depth
    <category>/scenes/<scene>/masks/00000.png     object masks
    <category>/scenes/<scene>/metadata            JSON: "K" (9 numbers, column-major), "w", "h"
    <category>/scenes/<scene>/cam_poses.txt       one row per frame: frame id + 16 values of a 4x4
                                                   camera-to-world matrix (row-major, OpenCV axes, metres)

The trap is ``K``: its 9 numbers are the matrix's columns, so ``K = reshape(3, 3).T``; read row-major the
principal point lands in the last row, which is refused. Scene ids are ``<category>/scenes/<scene>``; units
are metres (``Scene.metric``). Without cameras neither ``metadata`` nor ``cam_poses.txt`` is opened; without
depth ``depth/`` is not listed.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import files_with_suffix, names_in, scene_folder
from muskie.data.formats.reading import numeric_rows
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.sources.json_file import read_json

METADATA = "metadata"
POSES = "cam_poses.txt"
DEPTH_SCALE = 1e-3  # millimetres -> metres


def read_intrinsics(path: Path) -> tuple[np.ndarray, int, int]:
    """``(K (3, 3) float64 in pixels, width, height)`` of a scene's ``metadata`` JSON (column-major ``K``).

    Raises:
        FormatError: malformed JSON, missing keys, or a ``K`` whose last row is not ``0 0 1`` (what a
            row-major file, or garbage, gives).
    """
    try:
        meta = read_json(path)
    except ValueError as err:
        raise FormatError(str(err)) from err
    if not isinstance(meta, dict) or not all(key in meta for key in ("K", "w", "h")):
        raise FormatError(f"{path}: expected a JSON object with 'K', 'w' and 'h'")
    try:
        intrinsics = np.array(meta["K"], dtype=np.float64).reshape(3, 3).T
    except (TypeError, ValueError, OverflowError) as err:
        raise FormatError(f"{path}: 'K' must be 9 numbers") from err
    if not np.all(np.isfinite(intrinsics)) or not np.allclose(intrinsics[2], [0.0, 0.0, 1.0]):
        raise FormatError(
            f"{path}: 'K' read column-major must be a finite pinhole matrix with last row 0 0 1, "
            f"got {intrinsics.tolist()}"
        )
    sizes = []
    for key in ("w", "h"):
        value = meta[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value != int(value)
            or value <= 0
        ):
            raise FormatError(f"{path}: '{key}' must be a positive integer, got {value!r}")
        sizes.append(int(value))
    return intrinsics, sizes[0], sizes[1]


def read_poses(path: Path) -> dict[int, np.ndarray]:
    """frame id -> ``(4, 4)`` float64 camera-to-world of ``cam_poses.txt`` (rows: id + 16 row-major values).

    Raises:
        FormatError: a row without 17 numbers, or a frame id that is not a non-negative integer.
    """
    poses = {}
    for number, values in numeric_rows(path):
        if len(values) != 17:
            raise FormatError(f"{path}: line {number}: expected a frame id and 16 values, got {len(values)}")
        if not (0 <= values[0] < 2**53 and values[0] == int(values[0])):
            raise FormatError(f"{path}: line {number}: frame id must be a non-negative integer, got {values[0]}")
        poses[int(values[0])] = np.array(values[1:]).reshape(4, 4)
    return poses


def find_scenes(root: Path) -> list[str]:
    """``<category>/scenes/<scene>`` of every scene folder holding ``rgb/``, sorted."""
    scenes = sorted(
        f"{category.name}/scenes/{scene.name}"
        for category in Path(root).iterdir()
        if (category / "scenes").is_dir()
        for scene in (category / "scenes").iterdir()
        if (scene / "rgb").is_dir()
    )
    if not scenes:
        raise FormatError(f"{root}: not a WildRGB-D root: expected <category>/scenes/<scene>/rgb/ folders")
    return scenes


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One WildRGB-D scene (``scene_id = "<category>/scenes/<scene>"``), frames in frame-id order.

    With ``cameras`` the frames are those ``cam_poses.txt`` has a usable pose for (frames without a row, or
    with a non-finite or non-rigid pose, are skipped with a warning), at the size ``metadata`` gives, which
    must be the size of the images.

    Raises:
        FormatError: missing or malformed ``metadata`` / ``cam_poses.txt``, images of another size than
            ``metadata`` says, or a DUSt3R-preprocessed scene (``metadata/`` a folder: use format ``dust3r``).
    """
    root = Path(root)
    scene_dir = scene_folder(root, scene_id, "<category>/scenes/<scene>")
    if (scene_dir / METADATA).is_dir():
        raise FormatError(f"{scene_dir}: 'metadata' is a folder, the DUSt3R-preprocessed layout; use format 'dust3r'")
    images = files_with_suffix(scene_dir / "rgb", ".png", "WildRGB-D frames 00000.png")
    masks = names_in(scene_dir / "masks")
    depths = names_in(scene_dir / "depth") if depth else set()

    intrinsics, poses, size = None, {}, None
    if cameras:
        for name in (METADATA, POSES):
            if not (scene_dir / name).is_file():
                raise FormatError(f"{scene_dir / name}: no such file (expected the WildRGB-D scene's {name})")
        intrinsics, width, height = read_intrinsics(scene_dir / METADATA)
        poses = read_poses(scene_dir / POSES)
        size = (width, height)
        if image_size(images[0]) != size:
            raise FormatError(
                f"{images[0]}: image is {image_size(images[0])}, but {scene_dir / METADATA} gives "
                f"K for {size} (width, height)"
            )

    pose_filter = PoseFilter(str(scene_dir / POSES))
    missing = 0
    frames = []
    for path in images:
        try:
            frame_id = int(path.stem)
        except ValueError:
            raise FormatError(f"{path}: expected a numbered frame like 00000.png") from None
        pose = None
        if cameras:
            pose = poses.get(frame_id)
            if pose is None:
                missing += 1
                continue
            if not pose_filter.usable(pose):
                continue
        width, height = size if size is not None else image_size(path)
        frames.append(
            Frame(
                image_path=path,
                width=width,
                height=height,
                intrinsics=intrinsics,
                cam_to_world=pose,
                depth_path=scene_dir / "depth" / path.name if path.name in depths else None,
                depth_scale=DEPTH_SCALE,
                mask_path=scene_dir / "masks" / path.name if path.name in masks else None,
            )
        )
    if missing:
        warnings.warn(f"{scene_dir / POSES}: no pose for {missing} frame(s) of rgb/; skipped", stacklevel=2)
    pose_filter.warn()
    return Scene(name=scene_id, root=scene_dir, frames=frames, metric=True)


FORMAT = DatasetFormat(
    name="wildrgbd", title="WildRGB-D", find_scenes=find_scenes, read_scene=read_scene, object_centric=True
)
