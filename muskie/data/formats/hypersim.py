"""Hypersim (Apple): photorealistic synthetic indoor scenes rendered along camera trajectories.

Layout: ``<root>/ai_XXX_YYY/images/scene_cam_XX_final_preview/frame.XXXX.tonemap.jpg`` (tone-mapped colour:
the rendered colour itself is HDR), ``.../scene_cam_XX_geometry_hdf5/frame.XXXX.depth_meters.hdf5``, and per
camera ``_detail/cam_XX/camera_keyframe_{orientations,positions}.hdf5``; a scene id is ``ai_XXX_YYY/cam_XX``,
one trajectory, whose frame ``XXXX`` is keyframe ``XXXX``. The per-scene camera projections are in
``metadata_camera_parameters.csv``, which Apple publishes in the ml-hypersim repository
(``contrib/mikeroberts3000/``) rather than in the download: put it at ``<root>``.

Conventions converted:

- Orientations are ``R_world_from_cam`` with OpenGL-like camera axes (x right, y up, z backwards); positions
  are camera centres in asset units, converted to metres with the scene's ``meters_per_asset_unit``
  (``_detail/metadata_scene.csv``, else the csv's ``settings_units_info_meters_scale``).
- Intrinsics come from the scene's projection matrix ``M_proj`` exactly
  (:func:`muskie.geometry.projection.pinhole_from_opengl_projection`). Tilt-shift scenes (e.g. ``ai_037_002``)
  have a projective row that turns the image plane: that is a pinhole whose axes are rotated, so the rotation is
  folded into the pose and ``K`` stays exact (the common formula that reads ``K`` off the matrix's first two
  rows ignores it: a skewed, off-centre ``K`` several pixels wrong).
- ``depth_meters`` is the distance from the camera centre along each pixel's ray in metres (NaN where no
  surface), so frames say ``depth_along_ray`` and reading turns it into z-depth.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import names_in, scene_folder
from muskie.data.formats.reading import require
from muskie.data.hdf5_arrays import hdf5_array_fits
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.geometry import opengl_to_opencv, pinhole_from_opengl_projection

TITLE = "Hypersim"
CAMERA_PARAMETERS = "metadata_camera_parameters.csv"
_PREVIEW = re.compile(r"^frame\.(\d+)\.tonemap\.jpg$")
_PREVIEW_FOLDER = re.compile(r"^scene_(cam_\d+)_final_preview$")
# the csv lists ~500 scenes in ~200 kB
_MAX_CSV_BYTES = 16 << 20


def find_scenes(root: Path) -> list[str]:
    """``<scene>/<cam>`` for each ``<scene>/images/scene_<cam>_final_preview`` folder under ``root``."""
    scenes = sorted(
        f"{folder.parent.parent.name}/{match.group(1)}"
        for folder in root.glob("*/images/scene_cam_*_final_preview")
        if folder.is_dir()
        for match in [_PREVIEW_FOLDER.match(folder.name)]
        if match
    )
    require(bool(scenes), root, TITLE, "<scene>/images/scene_cam_XX_final_preview folders of tone-mapped frames")
    return scenes


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if path.stat().st_size > _MAX_CSV_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, too large for a Hypersim metadata file")
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _number(row: dict[str, str], key: str, path: Path) -> float:
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: no number in column {key!r} for scene {row.get('scene_name')!r}") from err


def read_camera_parameters(root: Path, scene: str) -> dict:
    """A scene's row of ``<root>/metadata_camera_parameters.csv``: ``width``, ``height`` (pixels),
    ``meters_per_asset_unit`` and ``M_proj`` ``(4, 4)`` float64.

    Raises:
        FormatError: the csv is missing (the message says where Apple publishes it).
        ValueError: the scene has no row, or a value is missing.
    """
    path = root / CAMERA_PARAMETERS
    if not path.is_file():
        raise FormatError(
            f"{root}: a {TITLE} root needs {CAMERA_PARAMETERS} for cameras (from the ml-hypersim "
            "repository, contrib/mikeroberts3000/); read with cameras=False for images only"
        )
    rows = [row for row in _csv_rows(path) if row.get("scene_name") == scene]
    if not rows:
        raise ValueError(f"{path}: no row for scene {scene!r}")
    row = rows[0]
    return {
        "width": int(_number(row, "settings_output_img_width", path)),
        "height": int(_number(row, "settings_output_img_height", path)),
        "meters_per_asset_unit": _number(row, "settings_units_info_meters_scale", path),
        "M_proj": np.array([[_number(row, f"M_proj_{i}{j}", path) for j in range(4)] for i in range(4)]),
    }


def meters_per_asset_unit(root: Path, scene: str, from_csv: float) -> float:
    """The scene's ``meters_per_asset_unit`` from ``_detail/metadata_scene.csv`` when present (it must agree
    with the camera csv's ``from_csv``), else ``from_csv``."""
    path = root / scene / "_detail" / "metadata_scene.csv"
    if not path.is_file():
        return from_csv
    values = [
        row.get("parameter_value") for row in _csv_rows(path) if row.get("parameter_name") == "meters_per_asset_unit"
    ]
    try:
        value = float(values[0])
    except (IndexError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: no meters_per_asset_unit parameter") from err
    if not np.isclose(value, from_csv, rtol=1e-5):
        raise ValueError(f"{path}: meters_per_asset_unit {value} disagrees with {CAMERA_PARAMETERS}'s {from_csv}")
    return value


def _read_keyframes(path: Path, trailing: tuple[int, ...]) -> np.ndarray:
    """The ``dataset`` array ``(N, *trailing)`` of a camera keyframe file, float64."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        import h5py
    except ImportError as err:
        raise ImportError(f"{path}: reading Hypersim cameras needs h5py (pip install 'muskie[datasets]')") from err
    try:
        with h5py.File(path, "r") as handle:
            if "dataset" not in handle or not isinstance(handle["dataset"], h5py.Dataset):
                raise ValueError(f"{path}: no 'dataset' array")
            dataset = handle["dataset"]
            if dataset.ndim != 1 + len(trailing) or dataset.shape[1:] != trailing:
                raise ValueError(
                    f"{path}: expected an array of shape (N, {', '.join(map(str, trailing))}), got {dataset.shape}"
                )
            if not hdf5_array_fits(dataset, path):
                raise ValueError(f"{path}: 'dataset' claims shape {dataset.shape}, more than the file holds")
            return np.asarray(dataset[()], dtype=np.float64)
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 file ({err})") from err


def _cameras(root: Path, scene: str, camera: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """``(parameters, intrinsics (3, 3), cam_to_world (N, 4, 4))`` of a trajectory, poses in metres."""
    parameters = read_camera_parameters(root, scene)
    try:
        intrinsics, rotation = pinhole_from_opengl_projection(
            parameters["M_proj"], parameters["width"], parameters["height"]
        )
    except ValueError as err:
        raise ValueError(f"{root / CAMERA_PARAMETERS}: scene {scene}: {err}") from err
    scale = meters_per_asset_unit(root, scene, parameters["meters_per_asset_unit"])
    detail = root / scene / "_detail" / camera
    orientations = _read_keyframes(detail / "camera_keyframe_orientations.hdf5", (3, 3))
    positions = _read_keyframes(detail / "camera_keyframe_positions.hdf5", (3,))
    if len(orientations) != len(positions):
        raise ValueError(f"{detail}: {len(orientations)} orientations but {len(positions)} positions")
    poses = np.tile(np.eye(4), (len(positions), 1, 1))
    poses[:, :3, :3] = orientations
    poses[:, :3, 3] = positions * scale
    poses = opengl_to_opencv(poses)
    # the pinhole's axes are the OpenCV camera's turned by `rotation`
    poses[:, :3, :3] = poses[:, :3, :3] @ rotation.T
    return parameters, intrinsics, poses


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One camera trajectory: its tone-mapped frames in frame order; with ``cameras``, the exact pinhole ``K``
    and camera-to-world poses in metres (frames with non-finite or non-rigid poses
    are skipped with a counted warning); with ``depth`` and ``cameras`` (ray distances become z-depth
    through ``K``), ``depth_meters`` as distances along the ray."""
    scene, _, camera = scene_id.partition("/")
    images = scene_folder(root, scene_id, "<scene>/<camera>").parent / "images"
    preview = images / f"scene_{camera}_final_preview"
    require(preview.is_dir(), root, TITLE, f"the tone-mapped frames of {scene_id} in {preview}")
    if cameras:
        parameters, intrinsics, poses = _cameras(root, scene, camera)
    pose_filter = PoseFilter(str(root / scene / "_detail" / camera))
    numbered = sorted(
        (int(match.group(1)), match.group(1), preview / match.group(0))
        for match in map(_PREVIEW.match, names_in(preview))
        if match
    )
    geometry = images / f"scene_{camera}_geometry_hdf5"
    depth_names = names_in(geometry) if depth and cameras else set()
    frames = []
    for index, number, image in numbered:
        width, height = image_size(image)
        k = pose = None
        if cameras:
            if index >= len(poses):
                raise ValueError(f"{image}: frame {index}, but {scene}/_detail/{camera} has {len(poses)} keyframes")
            pose = poses[index]
            if not pose_filter.usable(pose):
                continue
            if (width, height) != (parameters["width"], parameters["height"]):
                raise ValueError(
                    f"{image}: {width}x{height}, but {CAMERA_PARAMETERS} gives {scene} "
                    f"{parameters['width']}x{parameters['height']}, the size its camera describes"
                )
            k = intrinsics
        depth_name = f"frame.{number}.depth_meters.hdf5"
        depth_path = geometry / depth_name if depth_name in depth_names else None
        frames.append(
            Frame(image, width, height, k, pose, depth_path=depth_path, depth_along_ray=depth_path is not None)
        )
    pose_filter.warn()
    return Scene(name=scene_id, root=root / scene, frames=frames, metric=True)


FORMAT = DatasetFormat(name="hypersim", title=TITLE, find_scenes=find_scenes, read_scene=read_scene, window=16)
