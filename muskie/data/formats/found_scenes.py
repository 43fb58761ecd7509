"""Scene folders found by walking a dataset root to a bounded depth, for datasets whose root may be the
download folder, a split or subset folder, or one scene (DL3DV-10K, ARKitScenes, ScanNet++).

Scene ids are the folders' paths relative to the root (``.`` for the root itself). They come from listing
folders, not from a dataset's files, so, as with ``paths.scene_folder``, they are checked by shape and
symlinks are not resolved: a root assembled from linked scene folders reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from muskie.data.formats.base import FormatError


def walk_scene_folders(root: Path, is_scene: Callable[[Path], bool], max_depth: int) -> list[str]:
    """Ids of the folders at most ``max_depth`` levels below ``root`` (``root`` included) for which
    ``is_scene`` holds, sorted; the walk does not descend into a scene folder nor into hidden folders.
    Empty when there is none (the adapter raises the error that says what it expected)."""
    root = Path(root)
    scenes, queue = [], [(root, 0)]
    while queue:
        folder, depth = queue.pop()
        if is_scene(folder):
            scenes.append(folder.relative_to(root).as_posix())
        elif depth < max_depth:
            with os.scandir(folder) as entries:
                queue.extend((Path(entry.path), depth + 1) for entry in entries
                             if entry.is_dir() and not entry.name.startswith("."))
    return sorted(scenes)


def found_scene_folder(root: Path, scene_id: str) -> Path:
    """``root / scene_id`` for an id of :func:`walk_scene_folders` (``.`` is the root).

    Raises:
        FormatError: ``scene_id`` is not a relative path of non-empty parts without ``.`` or ``..`` (or ``.``).
    """
    if scene_id == ".":
        return Path(root)
    parts = scene_id.split("/") if isinstance(scene_id, str) else []
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise FormatError(f"{root}: scene id must be a relative folder path like 'a/b' (or '.'), got {scene_id!r}")
    return Path(root).joinpath(*parts)


def scene_name(root: Path, scene_id: str) -> str:
    """A scene's name: its id, or the root folder's name when the root is the scene."""
    return scene_id if scene_id != "." else Path(root).resolve().name
