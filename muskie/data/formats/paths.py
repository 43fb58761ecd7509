"""Paths inside a dataset root: paths named by the dataset's own files, and listings of its folders.

Paths written in a dataset's files (annotations, split lists, scene ids) are untrusted: they must stay inside
the dataset root once symlinks are resolved, so that a crafted annotation cannot make muskie read files
elsewhere. ``allow_outside=True`` is the explicit opt-out, for roots assembled from symlinks the user trusts.
"""

from __future__ import annotations

import os
from pathlib import Path

from muskie.data.formats.base import FormatError


def path_inside(root: Path, relative: str, where: str, allow_outside: bool = False) -> Path:
    """``root / relative`` for a path read from a file of the dataset (or a scene id).

    Args:
        root: the dataset root.
        relative: the path as the file writes it, relative to ``root``.
        where: the file (and entry) that named it, for the error message.
        allow_outside: accept paths that resolve outside ``root``.

    Raises:
        FormatError: ``relative`` is not a non-empty string, or it resolves (symlinks followed) outside
            ``root`` (absolute paths and ``..`` included).
    """
    if not isinstance(relative, str) or not relative:
        raise FormatError(f"{where}: expected a path relative to the dataset root, got {relative!r}")
    path = root / relative
    if not allow_outside and not path.resolve().is_relative_to(root.resolve()):
        raise FormatError(f"{where}: path {relative!r} leads outside the dataset root {root} (symlinks "
                          "resolved); pass allow_outside=True if the root is assembled from links you trust")
    return path


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
