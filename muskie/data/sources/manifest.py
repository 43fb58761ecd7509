"""A dataset root of many scenes, indexed once into a JSON manifest.

Training reads the manifest instead of listing folders and parsing camera files for every sample. The
manifest holds, per scene, its name (the folder's path relative to the root) and frames (image path, size,
cameras when known, depth when known), paths relative to the dataset root. The root is stored relative to
the manifest file when it lies below the manifest's folder (so the pair can move together), else absolute.

Format (``"format": "muskie-manifest", "version": 2``; version 1, without the fields marked v2, is read
with their defaults). Every path a manifest names (a scene's ``path``, a frame's ``image``, ``depth``, ``mask``)
must lead inside its root, symlinks resolved, unless the reader is given ``allow_outside``::

    {"root": "...", "scenes": [{"name": "a/b", "path": "a/b", "metric": false (v2), "neighbours": {} (v2),
        "frames": [
        {"image": "a/b/images/000.png", "width": 640, "height": 480,
         "intrinsics": [[...]] | null, "cam_to_world": [[...]] | null, "depth": "..." | null,
         "depth_scale": 1.0, "depth_encoding": "auto" (v2), "depth_along_ray": false (v2),
         "mask": "..." | null (v2), "distortion": {"model": "OPENCV", "params": [...]} | null (v2)}]}]}
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from muskie.data.dataset_paths import OutsideRootError, path_inside, walk_folders
from muskie.data.scene import Frame, Scene
from muskie.data.sources.detect import load_scene, scene_format
from muskie.data.sources.json_file import read_json
from muskie.geometry.distortion import LensDistortion

MANIFEST_FORMAT = "muskie-manifest"
MANIFEST_VERSION = 2
READABLE_VERSIONS = (1, 2)


def find_scene_dirs(root: str | Path) -> list[Path]:
    """Scene folders under ``root`` (``root`` itself if it is one), in sorted order.

    A folder that holds a scene (see ``scene_format``) is not searched further; hidden folders are skipped;
    a folder reached again through a symlink (a loop, a second link) is not (``walk_folders``).
    """
    return walk_folders(Path(root), lambda folder: scene_format(folder) is not None)


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def _frame_record(frame: Frame, root: Path) -> dict:
    return {
        "image": _relative(frame.image_path, root),
        "width": frame.width,
        "height": frame.height,
        "intrinsics": None if frame.intrinsics is None else frame.intrinsics.tolist(),
        "cam_to_world": None if frame.cam_to_world is None else frame.cam_to_world.tolist(),
        "depth": None if frame.depth_path is None else _relative(frame.depth_path, root),
        "depth_scale": frame.depth_scale,
        "depth_encoding": frame.depth_encoding,
        "depth_along_ray": frame.depth_along_ray,
        "mask": None if frame.mask_path is None else _relative(frame.mask_path, root),
        "distortion": None if frame.distortion is None else frame.distortion.to_dict(),
    }


def scene_record(scene: Scene, path: str, root: Path) -> dict:
    """The manifest entry of ``scene``, whose folder is ``path`` relative to the dataset ``root``."""
    return {
        "name": scene.name,
        "path": path,
        "metric": scene.metric,
        "neighbours": {str(k): list(v) for k, v in scene.neighbours.items()},
        "frames": [_frame_record(frame, root) for frame in scene.frames],
    }


def write_manifest(records: Iterable[dict], root: Path, out_path: Path) -> int:
    """Write the manifest of scene ``records`` (:func:`scene_record`) of the dataset ``root`` to ``out_path``
    (its folder is created); returns the number of scenes.

    Records are written as they come, so an index of millions of frames never holds them all; the file
    appears complete or not at all (written beside, then renamed).
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_dir = out_path.parent.resolve()
    stored_root = str(root.resolve())
    if root.resolve().is_relative_to(manifest_dir):
        stored_root = _relative(root, manifest_dir)
    header = json.dumps({"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "root": stored_root})
    partial = out_path.with_name(out_path.name + ".partial")
    count = 0
    try:
        with open(partial, "w") as file:
            file.write(header[:-1] + ', "scenes": [')
            for record in records:
                file.write((", " if count else "") + json.dumps(record))
                count += 1
            file.write("]}")
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def build_manifest(
    root: str | Path, out_path: str | Path, skip_bad: bool = False, allow_outside: bool = False
) -> list[Scene]:
    """Index every scene under ``root`` into the JSON manifest ``out_path``.

    Args:
        root: dataset folder; each scene folder below it (any depth) is read with ``load_scene``.
        out_path: the manifest file to write (its folder is created).
        skip_bad: warn about and leave out scenes that fail to load (any unreadable or malformed file),
            instead of raising.
        allow_outside: passed to ``load_scene``.

    Returns:
        The indexed scenes (scene names are their folders' paths relative to ``root``).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no scene under ``root``, or a scene fails to load and ``skip_bad`` is false.
    """
    root = Path(root)
    out_path = Path(out_path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    scenes, records = [], []
    for scene_dir in find_scene_dirs(root):
        try:
            scene = load_scene(scene_dir, allow_outside=allow_outside)
        except (ValueError, OSError) as err:
            if not skip_bad:
                raise
            warnings.warn(f"manifest: skipping scene {scene_dir}: {err}", stacklevel=2)
            continue
        scene.name = _relative(scene_dir, root) if scene_dir != root else scene.name
        scenes.append(scene)
        records.append(scene_record(scene, _relative(scene_dir, root), root))
    if not scenes:
        raise ValueError(f"{root}: no scenes found")
    write_manifest(records, root, out_path)
    return scenes


def load_manifest(path: str | Path, root: str | Path | None = None, allow_outside: bool = False) -> list[Scene]:
    """Read a manifest written by ``build_manifest``.

    Args:
        path: the manifest file.
        root: the dataset root, overriding the one stored (for a dataset that moved).
        allow_outside: accept scene and frame paths that lead outside the root (symlinks resolved), as a
            manifest of a root assembled from links to other disks has.

    Returns:
        The scenes, in the manifest's order; nothing on disk but the manifest is read.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a manifest, a malformed entry, a path outside the root, a pose that is not rigid (the
            message names the file, scene and frame).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f'{path}: not a muskie manifest (no "format": "{MANIFEST_FORMAT}")')
    if manifest.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: manifest version {manifest.get('version')!r}, expected one of "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    if root is None and not isinstance(manifest.get("root"), str):
        raise ValueError(
            f'{path}: the manifest has no "root" (the dataset folder, relative to the manifest); '
            "rebuild it with build_manifest"
        )
    if not isinstance(manifest.get("scenes", []), list):
        raise ValueError(f'{path}: "scenes" is not a list')
    root = Path(root) if root is not None else path.parent / manifest["root"]

    def inside(relative, where: str) -> Path:
        return path_inside(root, relative, where, allow_outside)

    scenes = []
    for scene_index, record in enumerate(manifest.get("scenes", [])):
        where = f"{path}: scene {scene_index}"
        try:
            frames = []
            for frame_index, entry in enumerate(record["frames"]):
                where = f"{path}: scene {scene_index} ({record['name']}), frame {frame_index}"
                frames.append(
                    Frame(
                        image_path=inside(entry["image"], f"{where}: image"),
                        width=entry["width"],
                        height=entry["height"],
                        intrinsics=entry["intrinsics"],
                        cam_to_world=entry["cam_to_world"],
                        depth_path=None if entry["depth"] is None else inside(entry["depth"], f"{where}: depth"),
                        depth_scale=entry["depth_scale"],
                        depth_encoding=entry.get("depth_encoding", "auto"),
                        depth_along_ray=entry.get("depth_along_ray", False),
                        mask_path=None if entry.get("mask") is None else inside(entry["mask"], f"{where}: mask"),
                        distortion=None
                        if entry.get("distortion") is None
                        else LensDistortion.from_dict(entry["distortion"]),
                    )
                )
            neighbours = {int(k): [int(i) for i in v] for k, v in record.get("neighbours", {}).items()}
            scene_root = inside(record["path"], f"{path}: scene {scene_index} ({record['name']}): path")
            scenes.append(
                Scene(
                    name=record["name"],
                    root=scene_root,
                    frames=frames,
                    metric=record.get("metric", False),
                    neighbours=neighbours,
                )
            )
        except OutsideRootError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where}: malformed entry ({type(err).__name__}: {err})") from err
    return scenes


def load_scenes(source: str | os.PathLike, allow_outside: bool = False) -> list[Scene]:
    """The scenes of ``source``: a manifest ``.json`` (``load_manifest``), a ``transforms.json``, one scene
    folder, or a dataset root whose scene folders are found by ``find_scene_dirs`` and read one by one;
    ``allow_outside``: accept paths that the manifest or the scenes' files name outside their roots.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: no scene found, or a scene's files are malformed (the message names the file).
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or directory")
    if source.is_file() and source.suffix == ".json" and source.name != "transforms.json":
        return load_manifest(source, allow_outside=allow_outside)
    if source.is_file():
        return [load_scene(source, allow_outside=allow_outside)]
    scene_dirs = find_scene_dirs(source)
    if not scene_dirs:
        raise ValueError(f"{source}: no scenes found")
    scenes = []
    for scene_dir in scene_dirs:
        scene = load_scene(scene_dir, allow_outside=allow_outside)
        if scene_dir != source:
            scene.name = _relative(scene_dir, source)
        scenes.append(scene)
    return scenes
