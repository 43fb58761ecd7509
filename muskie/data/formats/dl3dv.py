"""DL3DV-10K (10,510 videos of real scenes, COLMAP-reconstructed) in the layout its authors ship.

Layout: one folder per scene, named by its 64-hex-digit hash, under the subset folders (``1K/``, ``2K/``...)
or, in the benchmark release, with the files one level down in ``nerfstudio/``::

    <hash>/images_4/frame_00001.png   frames (``images_4`` in the 960P release; also ``images_8``,
                                      ``images_2``, ``images`` at full resolution)
    <hash>/transforms.json            nerfstudio cameras of the full-resolution frames
    <hash>/colmap/sparse/0/           the COLMAP model they come from (``cameras``/``images`` .bin or .txt)

``transforms.json`` was written by nerfstudio from the COLMAP model, and keeps COLMAP's conventions where
nerfstudio copies them: ``fl_x, fl_y, cx, cy`` are COLMAP's (pixel centres at half-integers: ``cx - 0.5`` here),
``k1 k2 p1 p2`` the ``OPENCV`` distortion (``k1..k4`` for ``OPENCV_FISHEYE``), ``w, h`` the full-resolution size
(``K`` is rescaled to the frames read); ``transform_matrix`` is camera-to-world in OpenGL axes (x right, y up,
z backwards), converted to OpenCV axes. Its world differs from COLMAP's by nerfstudio's ``applied_transform``
(axes swapped): a rigid change of world, immaterial to a scene's frames. ``file_path`` names
``images/<frame>``: the frame is read from the image folder chosen (the first of ``images_4``, ``images_8``,
``images_2``, ``images`` that exists; 960x540 in the 960P release is what pre-training crops from).

Without ``transforms.json`` the COLMAP model is read. No depth; the scale is the SfM's (``metric=False``);
the frames are distorted (``Frame.distortion``: the loader undistorts them). Without cameras neither file
is opened: the frames are the image folder's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from muskie.data.dataset_paths import path_inside
from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.colmap_captures import colmap_capture_frames, rescale_intrinsics
from muskie.data.formats.found_scenes import found_scene_folder, scene_name, walk_scene_folders
from muskie.data.formats.paths import names_in
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.sources.colmap import find_colmap_model
from muskie.data.sources.json_file import read_json
from muskie.geometry import opengl_to_opencv
from muskie.geometry.distortion import DISTORTION_PARAMS, LensDistortion

TRANSFORMS = "transforms.json"
IMAGE_FOLDERS = ("images_4", "images_8", "images_2", "images")
COLMAP_FOLDERS = ("colmap", ".")
_MAX_DEPTH = 3  # <subset>/<hash>/nerfstudio
_FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")


def image_folder(scene_dir: Path) -> Path | None:
    """The scene's frames folder: the first of :data:`IMAGE_FOLDERS` that exists, or ``None``."""
    return next((scene_dir / name for name in IMAGE_FOLDERS if (scene_dir / name).is_dir()), None)


def _colmap_model(scene_dir: Path) -> Path | None:
    for folder in COLMAP_FOLDERS:
        model_dir = find_colmap_model(scene_dir / folder)
        if model_dir is not None:
            return model_dir
    return None


def _is_scene(folder: Path) -> bool:
    return image_folder(folder) is not None and ((folder / TRANSFORMS).is_file() or _colmap_model(folder) is not None)


def find_scenes(root: Path) -> list[str]:
    """Scene folders (an image folder and ``transforms.json`` or a COLMAP model) at most three levels below
    ``root`` (``root`` itself is scene ``.``), as paths relative to ``root``, sorted."""
    scenes = walk_scene_folders(root, _is_scene, _MAX_DEPTH)
    if not scenes:
        raise FormatError(
            f"{root}: not a DL3DV-10K root: expected scene folders <hash>/ (or <hash>/nerfstudio/) "
            f"holding one of {', '.join(IMAGE_FOLDERS)} and {TRANSFORMS} or colmap/sparse/0, "
            f"up to {_MAX_DEPTH} levels down"
        )
    return scenes


def _number(entry: dict, key: str, where: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FormatError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def _distortion(entry: dict, where: str) -> LensDistortion | None:
    model = entry.get("camera_model", "OPENCV")
    if model not in ("OPENCV", "OPENCV_FISHEYE", "PINHOLE"):
        raise FormatError(f"{where}: camera_model {model!r} is not supported (OPENCV, OPENCV_FISHEYE, PINHOLE)")
    if model == "PINHOLE":
        return None
    params = tuple(_number(entry, key, where) if key in entry else 0.0 for key in DISTORTION_PARAMS[model])
    return LensDistortion(model, params)


def _frame_path(scene_dir: Path, frames_dir: Path, file_path, where: str) -> Path:
    """A json ``file_path`` as a path inside the scene folder (symlinks resolved): ``images/<name>`` is read
    from ``frames_dir``."""
    if not isinstance(file_path, str) or not file_path:
        raise FormatError(f"{where}: 'file_path' must be a path, got {file_path!r}")
    parts = Path(file_path).parts
    parts = parts[1:] if parts and parts[0] == "." else parts
    if parts and parts[0] == "images":
        parts = (frames_dir.name, *parts[1:])
    return path_inside(scene_dir, Path(*parts).as_posix(), where)


def _transforms_frames(scene_dir: Path, frames_dir: Path, pose_filter: PoseFilter) -> list[Frame]:
    json_path = scene_dir / TRANSFORMS
    try:
        meta = read_json(json_path)
    except ValueError as err:
        raise FormatError(str(err)) from err
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list) or not meta["frames"]:
        raise FormatError(f"{json_path}: expected an object with a non-empty 'frames' list")
    size = None
    frames = []
    for index, entry in enumerate(meta["frames"]):
        where = f"{json_path}: frame {index}"
        if not isinstance(entry, dict):
            raise FormatError(f"{where}: expected an object, got {type(entry).__name__}")
        merged = {**meta, **entry}
        path = _frame_path(scene_dir, frames_dir, merged.get("file_path"), where)
        if size is None:
            size = image_size(path)  # the frames of a scene share one size
        fx, fy, cx, cy, width, height = (_number(merged, key, where) for key in ("fl_x", "fl_y", "cx", "cy", "w", "h"))
        # COLMAP's pixel centres sit at half-integers, ours at integers
        intrinsics = np.array([[fx, 0.0, cx - 0.5], [0.0, fy, cy - 0.5], [0.0, 0.0, 1.0]])
        intrinsics = rescale_intrinsics(intrinsics, (round(width), round(height)), size, f"{where} and {path}")
        try:
            matrix = np.array(merged.get("transform_matrix"), dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as err:
            raise FormatError(f"{where}: 'transform_matrix' is not a numeric matrix") from err
        if matrix.shape == (3, 4):
            matrix = np.vstack([matrix, [0.0, 0.0, 0.0, 1.0]])
        if matrix.shape != (4, 4):
            raise FormatError(f"{where}: 'transform_matrix' must be 4x4 or 3x4, got shape {matrix.shape}")
        if not pose_filter.usable(matrix):
            continue
        frames.append(
            Frame(path, size[0], size[1], intrinsics, opengl_to_opencv(matrix), distortion=_distortion(merged, where))
        )
    return sorted(frames, key=lambda frame: frame.image_path.name)


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One DL3DV-10K scene, frames in frame-number order (``depth`` is ignored: the dataset has none).

    With ``cameras`` the frames are those ``transforms.json`` (else the COLMAP model) has a usable pose for;
    non-finite or non-rigid poses are skipped with a counted warning.

    Raises:
        FormatError: no image folder, no cameras file when cameras are asked for, a malformed file, a frame
            path leaving the scene folder, or frames that are no resized copy of the cameras' images.
    """
    root = Path(root)
    scene_dir = found_scene_folder(root, scene_id)
    frames_dir = image_folder(scene_dir)
    if frames_dir is None:
        raise FormatError(f"{scene_dir}: no frames folder (expected one of {', '.join(IMAGE_FOLDERS)})")
    if not cameras:
        names = sorted(name for name in names_in(frames_dir) if name.endswith(_FRAME_SUFFIXES))
        if not names:
            raise FormatError(f"{frames_dir}: no frames (expected frame_00001.png ...)")
        width, height = image_size(frames_dir / names[0])  # the frames of a scene share one size
        frames = [Frame(frames_dir / name, width, height) for name in names]
    else:
        pose_filter = PoseFilter(f"{scene_dir}")
        if (scene_dir / TRANSFORMS).is_file():
            frames = _transforms_frames(scene_dir, frames_dir, pose_filter)
        else:
            model_dir = _colmap_model(scene_dir)
            if model_dir is None:
                raise FormatError(f"{scene_dir}: no cameras (expected {TRANSFORMS} or colmap/sparse/0)")
            frames = colmap_capture_frames(scene_dir, model_dir, frames_dir, pose_filter)
        pose_filter.warn()
    return Scene(name=scene_name(root, scene_id), root=scene_dir, frames=frames, metric=False)


FORMAT = DatasetFormat(name="dl3dv", title="DL3DV-10K", find_scenes=find_scenes, read_scene=read_scene, window=64)
