"""BlendedMVS (and its supersets BlendedMVS+ / ++, i.e. BlendedMVG) in the layout its authors ship.

Layout (``root`` holds one folder per scene, named by a 24-digit hex id)::

    <scene>/blended_images/00000000.jpg            the training images (00000000_masked.jpg: skipped)
    <scene>/cams/00000000_cam.txt                  the camera (MVSNet's format, below)
    <scene>/cams/pair.txt                          each view's best partner views
    <scene>/rendered_depth_maps/00000000.pfm       z-depth rendered from the scene's mesh, 0 = none

``_cam.txt``::

    extrinsic
    <4 x 4 world-to-camera, OpenCV axes>
    intrinsic
    <3 x 3 K in pixels>
    <depth_min> <depth_interval> [<depth_num> <depth_max>]

The extrinsic is inverted to camera-to-world; the depth range is MVS plane-sweep metadata and not needed.
``pair.txt`` is ``N``, then per view its id and ``k id_1 score_1 ... id_k score_k``; it becomes
``Scene.neighbours`` (frame indices, best first) and is read whenever present, cameras or not. Units are the
mesh's (``Scene.metric`` is False). The intrinsics are used as written: the authors do not state a
half-pixel convention.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import files_with_suffix, names_in, read_text, scene_folder
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.geometry import invert_pose

PAIRS = "pair.txt"


def _floats(tokens: list[str], path: Path, what: str) -> np.ndarray:
    try:
        return np.array([float(token) for token in tokens])
    except ValueError as err:
        raise FormatError(f"{path}: {what} is not numeric ({err})") from err


def read_cam(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(K (3, 3), world_to_cam (4, 4))`` float64 of a ``_cam.txt`` file, as written.

    Raises:
        FormatError: the file does not start with ``extrinsic`` + 16 numbers + ``intrinsic`` + 9 numbers.
    """
    tokens = read_text(path).split()
    if len(tokens) < 27 or tokens[0] != "extrinsic" or tokens[17] != "intrinsic":
        raise FormatError(f"{path}: expected 'extrinsic' and 16 numbers, then 'intrinsic' and 9 numbers")
    world_to_cam = _floats(tokens[1:17], path, "the extrinsic").reshape(4, 4)
    intrinsics = _floats(tokens[18:27], path, "the intrinsic").reshape(3, 3)
    return intrinsics, world_to_cam


def read_pairs(path: Path) -> dict[int, list[int]]:
    """view id -> its partner view ids, best first, from ``pair.txt``.

    Raises:
        FormatError: the counts do not match the numbers that follow them.
    """
    tokens = read_text(path).split()
    try:
        count = int(tokens[0])
        position, pairs = 1, {}
        for _ in range(count):
            view, partners = int(tokens[position]), int(tokens[position + 1])
            if partners < 0:
                raise ValueError(f"negative partner count {partners}")
            fields = tokens[position + 2 : position + 2 + 2 * partners]
            if len(fields) != 2 * partners:
                raise IndexError
            pairs[view] = [int(token) for token in fields[::2]]
            position += 2 + 2 * partners
    except IndexError:
        raise FormatError(f"{path}: ends before the views its counts announce") from None
    except ValueError as err:
        raise FormatError(
            f"{path}: expected a view count, then per view its id, a partner count and (id, score) pairs ({err})"
        ) from err
    return pairs


def find_scenes(root: Path) -> list[str]:
    """The scene folders (those holding ``blended_images/`` and ``cams/``), sorted."""
    scenes = sorted(
        path.name for path in Path(root).iterdir() if (path / "blended_images").is_dir() and (path / "cams").is_dir()
    )
    if not scenes:
        raise FormatError(f"{root}: not a BlendedMVS root: expected scene folders holding blended_images/ and cams/")
    return scenes


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One BlendedMVS scene, frames in view-id order, ``neighbours`` from ``pair.txt`` when present.

    Frames whose pose is non-finite or not a rotation are skipped with one warning (and leave the
    neighbour lists).

    Raises:
        FormatError: a missing or malformed ``_cam.txt`` (with cameras) or ``pair.txt``.
    """
    root = Path(root)
    scene_dir = scene_folder(root, scene_id, "<scene>")
    images = [
        path
        for path in files_with_suffix(scene_dir / "blended_images", ".jpg", "BlendedMVS images")
        if not path.stem.endswith("_masked")
    ]
    depths = names_in(scene_dir / "rendered_depth_maps") if depth else set()
    poses = PoseFilter(str(scene_dir / "cams"))
    frames, view_ids = [], []
    for path in images:
        intrinsics = cam_to_world = None
        if cameras:
            cam_path = scene_dir / "cams" / f"{path.stem}_cam.txt"
            if not cam_path.is_file():
                raise FormatError(f"{cam_path}: no such file (expected the camera of {path.name})")
            intrinsics, world_to_cam = read_cam(cam_path)
            # the file's matrix must be rigid itself (its last row included) before it is inverted
            if not poses.usable(world_to_cam):
                continue
            cam_to_world = invert_pose(world_to_cam)
        width, height = image_size(path)
        depth_path = scene_dir / "rendered_depth_maps" / f"{path.stem}.pfm"
        if depth_path.name not in depths:
            depth_path = None
        try:
            frames.append(
                Frame(
                    image_path=path,
                    width=width,
                    height=height,
                    intrinsics=intrinsics,
                    cam_to_world=cam_to_world,
                    depth_path=depth_path,
                )
            )
        except ValueError as err:
            raise FormatError(f"{path}: {err}") from err
        view_ids.append(int(path.stem) if path.stem.isdigit() else None)
    poses.warn()

    neighbours = {}
    if (scene_dir / "cams" / PAIRS).is_file():
        index_of = {view: index for index, view in enumerate(view_ids) if view is not None}
        for view, partners in read_pairs(scene_dir / "cams" / PAIRS).items():
            if view in index_of:
                neighbours[index_of[view]] = [index_of[partner] for partner in partners if partner in index_of]
    return Scene(name=scene_id, root=scene_dir, frames=frames, metric=False, neighbours=neighbours)


FORMAT = DatasetFormat(name="blendedmvs", title="BlendedMVS", find_scenes=find_scenes, read_scene=read_scene)
