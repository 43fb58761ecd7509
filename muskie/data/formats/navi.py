"""NAVI (object captures with aligned CAD models) in the layout its authors ship, and the correspondence
benchmark's sample selection on it.

Layout (``root`` holds one folder per object)::

    <object>/multiview_<k>_<camera>/annotations.json   JSON list, one entry per image (``filename``)
    <object>/multiview_<k>_<camera>/images/<id>.jpg     full-size frames (and downsampled_<id>.jpg)
    <object>/multiview_<k>_<camera>/depth/downsampled_<id>.png   uint16 inverse depth
    <object>/wild_set/...                               in-the-wild photos, same files

An annotation entry holds ``camera.q`` (quaternion ``w, x, y, z``) and ``camera.t`` (millimetres) of the
**object(world)-to-camera** transform ``[R(q) | t]``, ``camera.focal_length`` in pixels at ``image_size``
(``[H, W]`` of the original photo) and the principal point at the image centre. Depth PNGs store inverse
depth: ``depth_mm = 65535 * 10 / value``, 0 = no depth (encoding ``png_navi_inverse`` of
:mod:`muskie.data.depth_codecs`). The frames are the ``downsampled_<id>`` files the authors' evaluation reads
(the full-size ``<id>.jpg`` where no downsampled copy exists), their focal length scaled by the ratio of
shorter sides; units are metres (``Scene.metric``). Scene ids are ``<object>/<collection>``.

The benchmark's samples (:func:`evaluation_clusters`): the last 10% of each object's multiview collections
(:func:`evaluation_scenes`), per collection the 8 views closest in rotation to each anchor
(:func:`muskie.data.selection.rotation_clusters`), every 20th cluster of the whole list; each view is cropped
to the object's box and resized to 512x512 when loaded (:func:`muskie.data.selection.load_views`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import names_in, scene_folder
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.selection import rotation_clusters
from muskie.data.sources.json_file import read_json
from muskie.geometry import invert_pose
from muskie.geometry.poses import quaternion_to_rotation

ANNOTATIONS = "annotations.json"
DOWNSAMPLED = "downsampled_"
DEPTH_SCALE = 1e-3  # millimetres -> metres
MULTIVIEW = "multiview"
WILD = "wild_set"
# the authors' evaluation split and sample selection
EVALUATION_FRACTION = 0.1
CLUSTER_VIEWS = 8
CLUSTER_STRIDE = 20


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FormatError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def world_to_camera(annotation: dict, where: str = "annotation") -> np.ndarray:
    """``(4, 4)`` float64 object(world)-to-camera transform of an annotation entry, translation in metres."""
    camera = annotation.get("camera") if isinstance(annotation, dict) else None
    if (
        not isinstance(camera, dict)
        or not isinstance(camera.get("q"), list)
        or not isinstance(camera.get("t"), list)
        or len(camera["q"]) != 4
        or len(camera["t"]) != 3
    ):
        raise FormatError(f"{where}: expected camera.q (4 numbers w, x, y, z) and camera.t (3 numbers, mm)")
    q = [_number(v, f"{where}: camera.q") for v in camera["q"]]
    if math.hypot(*q) == 0:
        raise FormatError(f"{where}: camera.q is the zero quaternion")
    pose = np.eye(4)
    pose[:3, :3] = quaternion_to_rotation(q)
    pose[:3, 3] = [_number(v, f"{where}: camera.t") * DEPTH_SCALE for v in camera["t"]]
    return pose


def read_annotations(path: Path) -> dict[str, dict]:
    """image id (``filename`` without its suffix) -> annotation entry of a collection's ``annotations.json``.

    Raises:
        FormatError: not a JSON list of objects with a ``filename``.
    """
    try:
        entries = read_json(path)
    except ValueError as err:
        raise FormatError(str(err)) from err
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("filename"), str) for e in entries
    ):
        raise FormatError(f"{path}: expected a JSON list of entries, each with a 'filename'")
    return {Path(entry["filename"]).stem: entry for entry in entries}


def _intrinsics(annotation: dict, width: int, height: int, where: str) -> np.ndarray:
    """``K`` at the stored image's ``width x height``: the focal length given at ``image_size`` scaled by the
    ratio of the shorter sides, the principal point at the centre (pixel centres at integers)."""
    size = annotation.get("image_size")
    if not isinstance(size, list) or len(size) != 2:
        raise FormatError(f"{where}: expected image_size [H, W]")
    original_h, original_w = (_number(v, f"{where}: image_size") for v in size)
    focal = _number(annotation.get("camera", {}).get("focal_length"), f"{where}: camera.focal_length")
    if min(original_h, original_w, focal) <= 0:
        raise FormatError(f"{where}: image_size and camera.focal_length must be positive")
    f = focal * min(width, height) / min(original_h, original_w)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def find_scenes(root: Path) -> list[str]:
    """``<object>/<collection>`` of every multiview collection and wild set holding ``annotations.json``."""
    scenes = sorted(
        f"{obj.name}/{collection.name}"
        for obj in Path(root).iterdir()
        if obj.is_dir()
        for collection in obj.iterdir()
        if (collection.name.startswith(f"{MULTIVIEW}_") or collection.name == WILD)
        and (collection / ANNOTATIONS).is_file()
    )
    if not scenes:
        raise FormatError(f"{root}: not a NAVI root: expected <object>/multiview_*/{ANNOTATIONS}")
    return scenes


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One NAVI collection, frames in image-id order: every ``images/<id>.jpg`` (ids without ``_``) with an
    annotation entry, read from its ``downsampled_<id>`` files where they exist.

    Raises:
        FormatError: no ``images/`` or no annotated image, or a malformed annotation.
    """
    root = Path(root)
    folder = scene_folder(root, scene_id, "<object>/<collection>")
    names = names_in(folder / "images")
    if not names:
        raise FormatError(f"{folder / 'images'}: no such folder or empty (expected NAVI images <id>.jpg)")
    annotations = read_annotations(folder / ANNOTATIONS)
    depths = names_in(folder / "depth") if depth else set()
    ids = sorted(Path(n).stem for n in names if n.endswith(".jpg") and "_" not in Path(n).stem)
    pose_filter = PoseFilter(str(folder / ANNOTATIONS))
    frames = []
    for image_id in ids:
        if image_id not in annotations:
            continue
        name = f"{DOWNSAMPLED}{image_id}.jpg" if f"{DOWNSAMPLED}{image_id}.jpg" in names else f"{image_id}.jpg"
        path = folder / "images" / name
        width, height = image_size(path)
        where = f"{folder / ANNOTATIONS}: {image_id}"
        intrinsics = pose = None
        if cameras:
            intrinsics = _intrinsics(annotations[image_id], width, height, where)
            pose = invert_pose(world_to_camera(annotations[image_id], where))
            if not pose_filter.usable(pose):
                continue
        depth_name = f"{Path(name).stem}.png"
        frames.append(
            Frame(
                image_path=path,
                width=width,
                height=height,
                intrinsics=intrinsics,
                cam_to_world=pose,
                depth_path=folder / "depth" / depth_name if depth_name in depths else None,
                depth_scale=DEPTH_SCALE,
                depth_encoding="png_navi_inverse",
            )
        )
    if not frames:
        raise FormatError(f"{folder}: no image of images/ has an entry in {ANNOTATIONS}")
    pose_filter.warn()
    return Scene(name=scene_id, root=folder, frames=frames, metric=True)


def evaluation_scenes(scene_ids: list[str]) -> list[str]:
    """The authors' evaluation split: for every object that has a wild set and at least one other collection,
    the last 10% (at least one) of its multiview collections in sorted order."""
    by_object: dict[str, list[str]] = {}
    for scene_id in scene_ids:
        obj, collection = scene_id.split("/")
        by_object.setdefault(obj, []).append(collection)
    chosen = []
    for obj in sorted(by_object):
        collections = sorted(by_object[obj])
        if WILD not in collections or len(collections) == 1:
            continue
        multiview = [c for c in collections if c.startswith(f"{MULTIVIEW}_")]
        held_out = multiview[int((1 - EVALUATION_FRACTION) * len(multiview)) :]
        chosen.extend(f"{obj}/{c}" for c in held_out)
    return chosen


def evaluation_clusters(
    root: Path, num_views: int = CLUSTER_VIEWS, stride: int = CLUSTER_STRIDE
) -> list[tuple[Scene, list[int]]]:
    """The benchmark's samples: ``(scene, frame indices)`` with view 0 the anchor, for the collections of
    :func:`evaluation_scenes` in order, each collection's :func:`~muskie.data.selection.rotation_clusters`
    (anchors in frame order), every ``stride``-th cluster of the whole list from the first."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    clusters = []
    for scene_id in evaluation_scenes(find_scenes(Path(root))):
        scene = read_scene(Path(root), scene_id)
        rotations = np.stack([frame.cam_to_world[:3, :3] for frame in scene.frames])
        clusters.extend((scene, cluster) for cluster in rotation_clusters(rotations, num_views))
    return clusters[::stride]


FORMAT = DatasetFormat(name="navi", title="NAVI", find_scenes=find_scenes, read_scene=read_scene, object_centric=True)
