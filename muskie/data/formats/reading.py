"""Two small reads the adapters of 7-Scenes, ScanNet, MegaDepth, Hypersim and RealEstate10K share: numeric
text matrices, and the one way they refuse a root that does not look like their format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from muskie.data.formats.base import FormatError
from muskie.data.formats.paths import read_text

# a text matrix of a few numbers: anything larger is not the small file the format describes
_MAX_MATRIX_BYTES = 1 << 16


def numeric_rows(path: Path) -> Iterator[tuple[int, list[float]]]:
    """``(line number, values)`` of every non-blank line of a text file of whitespace-separated numbers;
    a FormatError names the file and line of anything else."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, [float(token) for token in line.split()]
        except ValueError as err:
            raise FormatError(f"{path}: line {number}: not numbers ({err})") from err


def read_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A whitespace-separated numeric text file (any exponent style, e.g. ``9.38e-001``) as a float64 array of
    ``shape``; non-finite entries (``-inf``, ``nan``) are kept for the caller's pose filter.

    Raises:
        FileNotFoundError: no file.
        FormatError: the file is not ``shape[0] * shape[1]`` numbers (the message names the file).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size > _MAX_MATRIX_BYTES:
        raise FormatError(f"{path}: {path.stat().st_size} bytes, too large for a {shape[0]}x{shape[1]} matrix")
    try:
        values = np.array([float(token) for token in read_text(path).split()], dtype=np.float64)
    except ValueError as err:
        raise FormatError(f"{path}: not a text file of numbers ({err})") from err
    if values.size != shape[0] * shape[1]:
        raise FormatError(f"{path}: expected {shape[0]}x{shape[1]} = {shape[0] * shape[1]} numbers, "
                          f"got {values.size}")
    return values.reshape(shape)


def require(found: bool, root: Path, title: str, expected: str) -> None:
    """Raise :class:`FormatError` ``"<root>: not a <title> root: expected <expected>"`` unless ``found``."""
    if not found:
        raise FormatError(f"{root}: not a {title} root: expected {expected}")
