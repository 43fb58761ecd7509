"""Where a dataset's files may lead: paths its own files name stay inside its root, and a walk of its folders
visits each real folder once.

Paths written in a dataset's files (a ``transforms.json`` ``file_path``, a COLMAP image name, a manifest's
frame paths, an adapter's annotations) are untrusted: once symlinks are resolved they must stay inside the
root the file describes (the scene folder, the image folder, the dataset root), so that a crafted file cannot
make muskie read files elsewhere. ``allow_outside=True`` is the explicit opt-out, for datasets whose files
name paths elsewhere or roots assembled from symlinks the user trusts.

Folders found by listing (not named by any file) may be links; :func:`walk_folders` resolves each one and
enters a real folder only once, so a symlink loop or two links to one folder do not repeat scenes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

ALLOW_OUTSIDE_HINT = (
    "allow it with allow_outside=True (muskie data index --allow-outside, "
    "data.sources[].options.allow_outside) only for a dataset you trust"
)


class OutsideRootError(ValueError):
    """A path named in a dataset's file leads outside the root it must stay in; the message names the file."""


def path_inside(root: Path, relative, where: str, allow_outside: bool = False) -> Path:
    """``root / relative`` for a path read from a file of the dataset (or a scene id).

    Args:
        root: the folder the path must stay in (dataset root, scene folder, image folder).
        relative: the path as the file writes it, relative to ``root``.
        where: the file (and entry) that named it, for the error message.
        allow_outside: accept paths that resolve outside ``root``.

    Raises:
        OutsideRootError: ``relative`` is not a non-empty string, or it resolves (symlinks followed) outside
            ``root`` (absolute paths and ``..`` included).
    """
    if not isinstance(relative, str) or not relative:
        raise OutsideRootError(f"{where}: expected a path relative to {root}, got {relative!r}")
    path = Path(root) / relative
    if not allow_outside and not is_inside(path, root):
        raise OutsideRootError(
            f"{where}: path {relative!r} leads outside {root} (symlinks resolved); " + ALLOW_OUTSIDE_HINT
        )
    return path


def is_inside(path: Path, root: Path) -> bool:
    """``path`` lies in ``root`` (or is it) once both have their symlinks resolved."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def walk_folders(root: Path, is_scene: Callable[[Path], bool], max_depth: int | None = None) -> list[Path]:
    """The folders at most ``max_depth`` levels below ``root`` (``root`` included; None: any depth) for which
    ``is_scene`` holds, sorted by path.

    The walk does not descend into a scene folder nor into hidden folders (names starting with ``.``). Each
    folder is resolved (symlinks followed) and a real folder already visited is not entered again: a symlink
    loop ends, and a folder reached through two links is found once (by its first path in sorted order).
    """
    root = Path(root)
    found, visited = [], set()
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        real = os.path.realpath(folder)
        if real in visited:
            continue
        visited.add(real)
        if is_scene(folder):
            found.append(folder)
        elif max_depth is None or depth < max_depth:
            with os.scandir(folder) as entries:
                children = sorted(entry.name for entry in entries if not entry.name.startswith(".") and entry.is_dir())
            # pushed in reverse so that folders are visited in sorted order
            stack.extend((folder / name, depth + 1) for name in reversed(children))
    return sorted(found)
