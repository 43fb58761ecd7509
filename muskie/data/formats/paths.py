"""Folders and files of a dataset root as adapters list them: scene folders by id, files by suffix, names, text.

Paths that a dataset's own files name are checked by ``muskie.data.dataset_paths.path_inside`` (inside the
root once symlinks are resolved, unless ``allow_outside``).
"""

from __future__ import annotations

import os
from pathlib import Path

from muskie.data.formats.base import FormatError


def scene_folder(root: Path, scene_id: str, pattern: str) -> Path:
    """``root / scene_id`` for a dataset whose scenes are found by listing its folders.

    The id must have the parts ``pattern`` names (``"<category>/<sequence>"``: two), none of them empty,
    ``.`` or ``..``. Symlinks are not resolved: a root assembled from linked scene folders is fine, since no
    dataset file named the path.

    Raises:
        FormatError: ``scene_id`` does not match ``pattern``.
    """
    parts = scene_id.split("/") if isinstance(scene_id, str) else []
    if len(parts) != pattern.count("/") + 1 or any(part in ("", ".", "..") for part in parts):
        raise FormatError(f"{root}: scene id must look like {pattern!r}, got {scene_id!r}")
    return root.joinpath(*parts)


def files_with_suffix(folder: Path, suffix: str, what: str) -> list[Path]:
    """The files of ``folder`` whose names end with ``suffix``, sorted by name (datasets zero-pad their frame
    numbers, so this is capture order).

    Raises:
        FormatError: ``folder`` is not a folder or holds no such file; ``what`` says what was expected there.
    """
    if not folder.is_dir():
        raise FormatError(f"{folder}: no such folder (expected {what})")
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries if entry.name.endswith(suffix) and entry.is_file())
    if not names:
        raise FormatError(f"{folder}: no '*{suffix}' file (expected {what})")
    return [folder / name for name in names]


def names_in(folder: Path) -> set[str]:
    """The names in ``folder`` (empty when it does not exist): one listing instead of a stat per frame."""
    if not folder.is_dir():
        return set()
    with os.scandir(folder) as entries:
        return {entry.name for entry in entries}


def read_text(path: Path) -> str:
    """The text of a dataset's text file (camera, pose or pair list).

    Raises:
        FileNotFoundError: no such file.
        FormatError: the file is not UTF-8 text.
    """
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise FormatError(f"{path}: not a text file ({err})") from err
