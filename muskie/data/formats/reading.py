"""The small reads the dataset adapters share: numeric text matrices, paths a dataset file names (kept inside
the dataset's root), and the one place an adapter refuses a root that does not look like its format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muskie.data.formats.base import FormatError

# a text matrix of a few numbers: anything larger than this is not the small file the format describes
_MAX_MATRIX_BYTES = 1 << 16


def read_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A whitespace-separated numeric text file (any exponent style, e.g. ``9.38e-001``) as a float64 array of
    ``shape``; non-finite entries (``-inf``, ``nan``) are kept for the caller's pose filter.

    Raises:
        FileNotFoundError: no file.
        ValueError: the file is not ``shape[0] * shape[1]`` numbers (the message names the file).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size > _MAX_MATRIX_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, too large for a {shape[0]}x{shape[1]} matrix")
    try:
        values = np.array([float(token) for token in path.read_text().split()], dtype=np.float64)
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not a text file of numbers ({err})") from err
    if values.size != shape[0] * shape[1]:
        raise ValueError(f"{path}: expected {shape[0]}x{shape[1]} = {shape[0] * shape[1]} numbers, "
                         f"got {values.size}")
    return values.reshape(shape)


def inside_root(root: Path, relative: str, where: str) -> Path:
    """``root / relative`` for a path a dataset file names, refused unless it stays inside ``root``.

    Raises:
        ValueError: ``relative`` is absolute or leaves ``root`` (through ``..`` or a symbolic link); the
            message names ``where`` the path came from.
    """
    if not relative or Path(relative).is_absolute():
        raise ValueError(f"{where}: path {relative!r} must be relative to the dataset root {root}")
    path = root / relative
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{where}: path {relative!r} leaves the dataset root {root}")
    return path


def require(found: bool, root: Path, title: str, expected: str) -> None:
    """Raise :class:`FormatError` ``"<root>: not a <title> root: expected <expected>"`` unless ``found``."""
    if not found:
        raise FormatError(f"{root}: not a {title} root: expected {expected}")
