"""CO3Dv2 (Common Objects in 3D, v2) in the layout its authors ship.

Layout (``root`` holds one folder per category)::

    <category>/frame_annotations.jgz          gzip JSON list: one entry per frame of every sequence
    <category>/sequence_annotations.jgz       per-sequence metadata (not needed here)
    <category>/<sequence>/images/frameXXXXXX.jpg
    <category>/<sequence>/depths/frameXXXXXX.jpg.geometric.png   uint16 PNG holding float16 bits
    <category>/<sequence>/depth_masks/frameXXXXXX.png
    <category>/<sequence>/masks/frameXXXXXX.png                  object masks, P(foreground) * 255

A frame annotation names its files relative to ``root`` (``image.path``, ``depth.path``, ``mask.path``), its
image size as ``image.size = [H, W]`` (height first) and its camera as a PyTorch3D NDC camera
(``viewpoint.R``, ``T``, ``focal_length``, ``principal_point``, ``intrinsics_format``), converted exactly by
:func:`muskie.geometry.pytorch3d_cameras.opencv_from_pytorch3d`. Depth is ``png value * depth.scale_adjustment``
in the reconstruction's arbitrary units (``Scene.metric`` is False). The depth validity masks
(``depth_masks/``) are not applied: a ``Frame`` has no field for them.

Scene ids are ``<category>/<sequence>``. Without cameras and depth the annotations are not opened: the frames
are the files of ``images/`` and their sizes come from the image headers.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from pathlib import Path

import numpy as np

from muskie.data.dataset_paths import path_inside
from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import files_with_suffix, names_in, scene_folder
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.sources.json_file import parse_json
from muskie.geometry.pytorch3d_cameras import INTRINSICS_FORMATS, opencv_from_pytorch3d

FRAME_ANNOTATIONS = "frame_annotations.jgz"
# JSON of camera floats deflates about 5-10x; a gzip bomb inflates about 1000x
_MAX_INFLATION = 100
_MIN_INFLATED_LIMIT = 1 << 20


def read_jgz(path: Path):
    """The JSON content of a gzip file, refusing one that inflates beyond ``_MAX_INFLATION`` times its size.

    Raises:
        FormatError: not gzip, inflates too far, or malformed JSON (the message names the file).
    """
    limit = max(path.stat().st_size * _MAX_INFLATION, _MIN_INFLATED_LIMIT)
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise FormatError(f"{path}: not a readable gzip file ({err})") from err
    if len(data) > limit:
        raise FormatError(f"{path}: inflates to more than {_MAX_INFLATION} times its size; not an annotation file")
    try:
        return parse_json(data, path)
    except ValueError as err:
        raise FormatError(str(err)) from None


@functools.lru_cache(maxsize=1)
def _frames_by_sequence(path: Path, mtime_ns: int, size: int) -> dict[str, list[tuple[int, dict]]]:
    """sequence name -> ``(entry index, entry)`` of a category's frame annotations; cached per file version,
    since the scenes of one category are read one after another."""
    del mtime_ns, size  # only the cache key: a rewritten file is read again
    entries = read_jgz(path)
    if not isinstance(entries, list):
        raise FormatError(f"{path}: expected a JSON list of frame annotations, got {type(entries).__name__}")
    by_sequence: dict[str, list[tuple[int, dict]]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("sequence_name"), str):
            raise FormatError(f"{path}: entry {index}: expected an object with a string 'sequence_name'")
        by_sequence.setdefault(entry["sequence_name"], []).append((index, entry))
    return by_sequence


def _numbers(value, shape: tuple[int, ...], name: str, where: str) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        raise FormatError(f"{where}: '{name}' is not numeric") from err
    if array.shape != shape:
        raise FormatError(f"{where}: '{name}' must have shape {shape}, got {array.shape}")
    return array


def _positive_int(value, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FormatError(f"{where}: '{name}' must be a positive integer, got {value!r}")
    return value


def _camera(viewpoint, height: int, width: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(viewpoint, dict):
        raise FormatError(f"{where}: 'viewpoint' must be an object, got {type(viewpoint).__name__}")
    intrinsics_format = viewpoint.get("intrinsics_format", "ndc_norm_image_bounds")  # CO3D's default
    if intrinsics_format not in INTRINSICS_FORMATS:
        raise FormatError(
            f"{where}: unknown 'intrinsics_format' {intrinsics_format!r}; known: {', '.join(INTRINSICS_FORMATS)}"
        )
    focal = _numbers(viewpoint.get("focal_length"), (2,), "viewpoint.focal_length", where)
    centre = _numbers(viewpoint.get("principal_point"), (2,), "viewpoint.principal_point", where)
    if not (np.all(np.isfinite(focal)) and np.all(np.isfinite(centre))):
        raise FormatError(f"{where}: non-finite focal length or principal point")
    return opencv_from_pytorch3d(
        _numbers(viewpoint.get("R"), (3, 3), "viewpoint.R", where),
        _numbers(viewpoint.get("T"), (3,), "viewpoint.T", where),
        focal,
        centre,
        height,
        width,
        intrinsics_format,
    )


def _annotated_frame(
    root: Path, entry: dict, where: str, cameras: bool, depth: bool, allow_outside: bool, poses: PoseFilter
) -> Frame | None:
    """The frame of one annotation entry, or None when its pose is unusable (counted by ``poses``)."""
    image = entry.get("image")
    if not isinstance(image, dict):
        raise FormatError(f"{where}: missing 'image' object")
    image_path = path_inside(root, image.get("path"), f"{where}: image.path", allow_outside)
    size = image.get("size")
    if not isinstance(size, list) or len(size) != 2:
        raise FormatError(f"{where}: 'image.size' must be [height, width], got {size!r}")
    height, width = (_positive_int(value, "image.size", where) for value in size)
    intrinsics = cam_to_world = None
    if cameras and entry.get("viewpoint") is not None:
        intrinsics, cam_to_world = _camera(entry["viewpoint"], height, width, where)
        if not poses.usable(cam_to_world):
            return None
    depth_path, depth_scale = None, 1.0
    depth_entry = entry.get("depth")
    if depth and isinstance(depth_entry, dict) and depth_entry.get("path") is not None:
        depth_path = path_inside(root, depth_entry["path"], f"{where}: depth.path", allow_outside)
        depth_scale = float(_numbers(depth_entry.get("scale_adjustment", 1.0), (), "depth.scale_adjustment", where))
    mask_path = None
    mask_entry = entry.get("mask")
    if isinstance(mask_entry, dict) and mask_entry.get("path") is not None:
        mask_path = path_inside(root, mask_entry["path"], f"{where}: mask.path", allow_outside)
    try:
        return Frame(
            image_path=image_path,
            width=width,
            height=height,
            intrinsics=intrinsics,
            cam_to_world=cam_to_world,
            depth_path=depth_path,
            depth_scale=depth_scale,
            depth_encoding="png_float16",
            mask_path=mask_path,
        )
    except ValueError as err:
        raise FormatError(f"{where}: {err}") from err


def _listed_frames(scene_dir: Path) -> list[Frame]:
    """The frames of ``images/`` with sizes from their headers, and their masks where ``masks/`` has one."""
    masks = names_in(scene_dir / "masks")
    frames = []
    for path in files_with_suffix(scene_dir / "images", ".jpg", "CO3D frames frameXXXXXX.jpg"):
        width, height = image_size(path)
        mask = f"{path.stem}.png"
        frames.append(
            Frame(
                image_path=path,
                width=width,
                height=height,
                mask_path=scene_dir / "masks" / mask if mask in masks else None,
            )
        )
    return frames


def find_scenes(root: Path) -> list[str]:
    """``<category>/<sequence>`` of every sequence folder (one holding ``images/``) of every category that
    has ``frame_annotations.jgz``, sorted."""
    categories = sorted(path for path in Path(root).iterdir() if (path / FRAME_ANNOTATIONS).is_file())
    if not categories:
        raise FormatError(f"{root}: not a CO3Dv2 root: expected category folders holding {FRAME_ANNOTATIONS}")
    scenes = sorted(
        f"{category.name}/{sequence.name}"
        for category in categories
        for sequence in category.iterdir()
        if (sequence / "images").is_dir()
    )
    if not scenes:
        raise FormatError(f"{root}: no CO3Dv2 sequence: expected <category>/<sequence>/images/ folders")
    return scenes


def read_scene(
    root: Path, scene_id: str, cameras: bool = True, depth: bool = True, allow_outside: bool = False
) -> Scene:
    """One CO3Dv2 sequence (``scene_id = "<category>/<sequence>"``), frames in frame-number order.

    With ``cameras`` or ``depth`` the frames are the category's annotations of the sequence; frames whose
    pose is non-finite or not a rotation are skipped with one warning. Paths in the annotations must stay
    inside ``root`` unless ``allow_outside``.

    Raises:
        FormatError: a malformed annotation (the message names the file and entry), a path leading outside
            the root, or a sequence the annotations do not list.
    """
    root = Path(root)
    scene_dir = scene_folder(root, scene_id, "<category>/<sequence>")
    category, sequence = scene_id.split("/")
    if not (cameras or depth):
        return Scene(name=scene_id, root=scene_dir, frames=_listed_frames(scene_dir), metric=False)

    annotations = root / category / FRAME_ANNOTATIONS
    if not annotations.is_file():
        raise FormatError(f"{annotations}: no such file (expected the CO3Dv2 frame annotations of {category})")
    stat = annotations.stat()
    entries = _frames_by_sequence(annotations, stat.st_mtime_ns, stat.st_size).get(sequence)
    if not entries:
        raise FormatError(f"{annotations}: no frame of sequence {sequence!r}")
    numbered = []
    for index, entry in entries:
        number = entry.get("frame_number")
        if isinstance(number, bool) or not isinstance(number, int):
            raise FormatError(f"{annotations}: entry {index}: 'frame_number' must be an integer, got {number!r}")
        numbered.append((number, index, entry))
    poses = PoseFilter(f"{annotations} (sequence {sequence})")
    frames = []
    for _, index, entry in sorted(numbered, key=lambda item: item[:2]):
        frame = _annotated_frame(root, entry, f"{annotations}: entry {index}", cameras, depth, allow_outside, poses)
        if frame is not None:
            frames.append(frame)
    poses.warn()
    return Scene(name=scene_id, root=scene_dir, frames=frames, metric=False)


FORMAT = DatasetFormat(name="co3d", title="CO3Dv2", find_scenes=find_scenes, read_scene=read_scene, object_centric=True)
