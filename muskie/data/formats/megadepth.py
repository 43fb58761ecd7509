"""MegaDepth: internet photo collections with SfM cameras and MVS depth (SfM scale: scenes are not metric).

Two layouts:

- **Scene info** (LoFTR / D2-Net ``scene_info`` files, what most matching and DUSt3R-style loaders train from):
  ``<root>/*.npz`` or ``<root>/scene_info*/*.npz``, each with ``image_paths`` and ``depth_paths`` (relative to
  ``<root>``, ``None`` for unused entries), ``intrinsics`` (3x3, pixels, COLMAP's convention of pixel centres at
  +0.5), ``poses`` (4x4 **world-to-camera**) and ``pair_infos`` (``((i, j), overlap, central_matches)``). The
  files hold pickled Python objects: reading one unpickles it, which runs code the file names, so it is
  refused unless the caller passes ``allow_pickle=True`` for files it trusts. The pairs' overlaps become
  ``Scene.neighbours``. A scene id is the file's path relative to ``<root>``.
- **Raw** (``MegaDepth_v1``): ``<root>/<scene>/dense<k>/imgs/*.jpg`` (undistorted photos) and
  ``depths/<stem>.h5``, with the undistorted COLMAP model in ``dense<k>/sparse`` or
  ``<scene>/sparse/manhattan/<k>``. A scene id is ``<scene>/dense<k>``. The dense images are undistorted, so
  only a pinhole model describes them: a model with distortion (the SfM of the original photos) is refused.

Depth is ``h5['depth']`` float32 at the image's size, 0 = no depth, in the scene's SfM units.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muskie.data.dataset_paths import path_inside
from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import names_in, scene_folder
from muskie.data.formats.reading import require
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.sources.colmap import camera_to_intrinsics, image_to_cam_to_world, read_colmap_model
from muskie.geometry import invert_pose

TITLE = "MegaDepth"
_SCENE_INFO_KEYS = ("image_paths", "depth_paths", "intrinsics", "poses", "pair_infos")
_PINHOLE_MODELS = ("PINHOLE", "SIMPLE_PINHOLE")
_EXPECTED = "scene-info files (*.npz or scene_info*/*.npz) or <scene>/dense<k>/imgs folders"


@dataclass
class SceneInfo:
    """The used entries of a scene-info file, by their index in the file.

    Attributes:
        image_paths, depth_paths: entry -> path relative to the dataset root (depth may be missing).
        intrinsics: entry -> ``(3, 3)`` float64 ``K`` as stored (pixel centres at +0.5).
        world_to_camera: entry -> ``(4, 4)`` float64.
        pairs: ``((i, j), overlap)`` per listed pair, overlap in [0, 1].
    """

    image_paths: dict[int, str]
    depth_paths: dict[int, str]
    intrinsics: dict[int, np.ndarray]
    world_to_camera: dict[int, np.ndarray]
    pairs: list[tuple[tuple[int, int], float]]


def read_scene_info(path: Path, allow_pickle: bool = False) -> SceneInfo:
    """Read a LoFTR / D2-Net scene-info file (an ``.npz`` of object arrays, or a pickled dict).

    Raises:
        ValueError: ``allow_pickle`` is false (the file can only be read by unpickling it), or the file lacks
            a key or has entries of the wrong shape (the message names the file).
    """
    if not allow_pickle:
        raise ValueError(
            f"{path}: a MegaDepth scene-info file holds pickled Python objects and unpickling runs "
            "code from the file; pass allow_pickle=True only for files you trust"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=True)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                loaded = {key: loaded[key] for key in loaded.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable scene-info file ({err})") from err
    if not isinstance(loaded, dict) or any(key not in loaded for key in _SCENE_INFO_KEYS):
        raise ValueError(f"{path}: a scene-info file needs the keys {', '.join(_SCENE_INFO_KEYS)}")
    count = len(loaded["image_paths"])
    if any(len(loaded[key]) != count for key in ("depth_paths", "intrinsics", "poses")):
        raise ValueError(f"{path}: image_paths, depth_paths, intrinsics and poses differ in length")
    info = SceneInfo({}, {}, {}, {}, [])
    for index, image in enumerate(loaded["image_paths"]):
        if image is None:
            continue
        info.image_paths[index] = str(image)
        if loaded["depth_paths"][index] is not None:
            info.depth_paths[index] = str(loaded["depth_paths"][index])
        for key, target, shape in (("intrinsics", info.intrinsics, (3, 3)), ("poses", info.world_to_camera, (4, 4))):
            value = np.asarray(loaded[key][index], dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"{path}: entry {index}: {key} has shape {value.shape}, expected {shape}")
            target[index] = value
    for record in loaded["pair_infos"]:
        (i, j), overlap = record[0], record[1]
        info.pairs.append(((int(i), int(j)), float(overlap)))
    return info


def _scene_info_files(root: Path) -> list[str]:
    files = list(root.glob("*.npz")) + [
        path for folder in root.glob("scene_info*") if folder.is_dir() for path in folder.glob("*.npz")
    ]
    return [path.relative_to(root).as_posix() for path in files]


def _dense_folders(root: Path) -> list[str]:
    return [folder.relative_to(root).as_posix() for folder in root.glob("*/dense*") if (folder / "imgs").is_dir()]


def find_scenes(root: Path) -> list[str]:
    """Scene-info files and ``<scene>/dense<k>`` folders under ``root``."""
    scenes = sorted(_scene_info_files(root) + _dense_folders(root))
    require(bool(scenes), root, TITLE, _EXPECTED)
    return scenes


def _neighbours(pairs: list[tuple[tuple[int, int], float]], frame_of: dict[int, int]) -> dict[int, list[int]]:
    """Frame index -> its partners, largest overlap first, from pairs of file entries (both directions)."""
    scored: dict[int, dict[int, float]] = {}
    for (i, j), overlap in pairs:
        if i in frame_of and j in frame_of and i != j:
            for a, b in ((frame_of[i], frame_of[j]), (frame_of[j], frame_of[i])):
                scored.setdefault(a, {})[b] = max(overlap, scored.get(a, {}).get(b, 0.0))
    return {a: sorted(partners, key=lambda b: (-partners[b], b)) for a, partners in sorted(scored.items())}


def _read_scene_info_scene(
    root: Path, scene_id: str, cameras: bool, depth: bool, allow_pickle: bool, allow_outside: bool
) -> Scene:
    path = path_inside(root, scene_id, f"{root}: scene id", allow_outside)
    info = read_scene_info(path, allow_pickle=allow_pickle)
    poses = PoseFilter(str(path))
    frames, frame_of, missing = [], {}, 0
    for index, relative in info.image_paths.items():
        where = f"{path}: entry {index}"
        image = path_inside(root, relative, where, allow_outside)
        if not image.is_file():
            missing += 1
            continue
        intrinsics = pose = None
        if cameras:
            if not poses.usable(info.world_to_camera[index]):
                continue
            pose = invert_pose(info.world_to_camera[index])
            intrinsics = info.intrinsics[index] - np.array([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]])
        depth_path = None
        if depth and index in info.depth_paths:
            depth_path = path_inside(root, info.depth_paths[index], where, allow_outside)
        width, height = image_size(image)
        frame_of[index] = len(frames)
        frames.append(Frame(image, width, height, intrinsics, pose, depth_path=depth_path))
    if missing:
        warnings.warn(
            f"{path}: {missing} of {len(info.image_paths)} listed images are not under {root}; left out", stacklevel=3
        )
    poses.warn()
    return Scene(
        name=Path(scene_id).stem, root=root, frames=frames, metric=False, neighbours=_neighbours(info.pairs, frame_of)
    )


def _model_folder(dense: Path) -> Path:
    candidates = (dense / "sparse", dense.parent / "sparse" / "manhattan" / dense.name.removeprefix("dense"))
    for folder in candidates:
        if any((folder / f"cameras{suffix}").is_file() for suffix in (".bin", ".txt")):
            return folder
    raise FormatError(
        f"{dense}: not a {TITLE} dense folder with cameras: expected a COLMAP model in "
        f"{candidates[0]} or {candidates[1]}"
    )


def _read_dense_scene(root: Path, scene_id: str, cameras: bool, depth: bool) -> Scene:
    dense = scene_folder(root, scene_id, "<scene>/dense<k>")
    require((dense / "imgs").is_dir(), root, TITLE, f"the image folder {dense / 'imgs'}")
    image_names = names_in(dense / "imgs")
    depth_names = names_in(dense / "depths") if depth else set()
    if cameras:
        model = _model_folder(dense)
        colmap_cameras, images, _ = read_colmap_model(model, with_points=False)
        distorted = sorted({c.model for c in colmap_cameras.values() if c.model not in _PINHOLE_MODELS})
        if distorted:
            raise ValueError(
                f"{model}: camera model(s) {', '.join(distorted)} describe the distorted photos, not "
                f"the undistorted images of {dense / 'imgs'}; use the undistorted model (COLMAP "
                "image_undistorter's sparse/, as in D2-Net's Undistorted_SfM)"
            )
        entries = [(image.name, image) for image in sorted(images.values(), key=lambda image: image.name)]
    else:
        entries = [(name, None) for name in sorted(image_names)]
    poses = PoseFilter(str(dense))
    frames = []
    for name, registered in entries:
        image = dense / "imgs" / name
        intrinsics = pose = None
        if cameras:
            if name not in image_names:
                continue  # registered in the SfM but not part of the dense reconstruction
            pose = image_to_cam_to_world(registered)
            if not poses.usable(pose):
                continue
            if registered.camera_id not in colmap_cameras:
                raise ValueError(f"{model}: image {name} names camera {registered.camera_id}, which is not listed")
            intrinsics = camera_to_intrinsics(colmap_cameras[registered.camera_id])
        depth_name = f"{Path(name).stem}.h5"
        width, height = image_size(image)
        frames.append(
            Frame(
                image,
                width,
                height,
                intrinsics,
                pose,
                depth_path=dense / "depths" / depth_name if depth_name in depth_names else None,
            )
        )
    poses.warn()
    return Scene(name=scene_id, root=dense, frames=frames, metric=False)


def read_scene(
    root: Path,
    scene_id: str,
    cameras: bool = True,
    depth: bool = True,
    allow_pickle: bool = False,
    allow_outside: bool = False,
) -> Scene:
    """One scene (a scene-info file or a ``dense<k>`` folder): frames in file order (scene info) or image
    name order (raw); with ``cameras``, pinhole ``K`` in pixels (centres at integers) and camera-to-world
    poses (frames with non-finite or non-rigid poses skipped, with a counted warning); with ``depth``, the
    ``.h5`` depth maps.

    Args:
        allow_pickle: read scene-info files, which unpickles them (trusted files only).
        allow_outside: accept scene-info paths that resolve outside ``root`` (a root assembled from links
            you trust).
    """
    if scene_id.endswith(".npz"):
        return _read_scene_info_scene(root, scene_id, cameras, depth, allow_pickle, allow_outside)
    return _read_dense_scene(root, scene_id, cameras, depth)


FORMAT = DatasetFormat(name="megadepth", title=TITLE, find_scenes=find_scenes, read_scene=read_scene)
