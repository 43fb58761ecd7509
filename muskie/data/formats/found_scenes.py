"""Scene folders found by walking a dataset root to a bounded depth, for datasets whose root may be the
download folder, a split or subset folder, or one scene (DL3DV-10K, ARKitScenes, ScanNet++).

Scene ids are the folders' paths relative to the root (``.`` for the root itself). They come from listing
folders, not from a dataset's files, so, as with ``paths.scene_folder``, they are checked by shape and
symlinks are not resolved: a root assembled from linked scene folders reads. The walk is
``muskie.data.dataset_paths.walk_folders``: a folder reached again through a link (a loop) is not re-entered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from muskie.data.dataset_paths import walk_folders
from muskie.data.formats.base import FormatError


def walk_scene_folders(root: Path, is_scene: Callable[[Path], bool], max_depth: int) -> list[str]:
    """Ids of the folders at most ``max_depth`` levels below ``root`` (``root`` included) for which
    ``is_scene`` holds, sorted; the walk does not descend into a scene folder nor into hidden folders, and
    enters each real folder once. Empty when there is none (the adapter raises the error that says what it
    expected)."""
    root = Path(root)
    return sorted(folder.relative_to(root).as_posix() for folder in walk_folders(root, is_scene, max_depth))


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
