"""Small reads the adapters share: numeric text matrices (7-Scenes, ScanNet, MegaDepth, Hypersim,
RealEstate10K), numeric arrays of ``.npz`` archives checked before they are read (DUSt3R's preprocessed
cameras, ScanNet-1500's pairs), and the one way they refuse a root that does not look like their format."""

from __future__ import annotations

import zipfile
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
        raise FormatError(f"{path}: expected {shape[0]}x{shape[1]} = {shape[0] * shape[1]} numbers, got {values.size}")
    return values.reshape(shape)


def require(found: bool, root: Path, title: str, expected: str) -> None:
    """Raise :class:`FormatError` ``"<root>: not a <title> root: expected <expected>"`` unless ``found``."""
    if not found:
        raise FormatError(f"{root}: not a {title} root: expected {expected}")


def npz_names(path: Path) -> list[str]:
    """The array names of an ``.npz`` archive (its ``*.npy`` members without the suffix).

    Raises:
        FormatError: not a zip archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return [name[:-4] for name in archive.namelist() if name.endswith(".npy")]
    except (zipfile.BadZipFile, OSError) as err:
        raise FormatError(f"{path}: not a readable .npz archive ({err})") from err


def read_npz_arrays(path: Path, shapes: dict[str, tuple[int | None, ...]]) -> dict[str, np.ndarray]:
    """The arrays ``shapes`` names from an ``.npz``, each header checked before its data is read.

    ``np.load`` allocates what an array's header claims before reading it, so a crafted archive of a few
    bytes could claim terabytes; here each header is compared with its expected shape (``None``: any length
    along that axis) and with the bytes its member holds first.

    Returns:
        name -> float64 array of the stored shape.

    Raises:
        FormatError: not a zip archive, a missing array, another shape, a non-numeric dtype, a header claiming
            more bytes than its member holds, or a truncated member.
    """
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name, shape in shapes.items():
                try:
                    info = archive.getinfo(f"{name}.npy")
                except KeyError:
                    raise FormatError(f"{path}: no array '{name}'") from None
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    stored_shape, fortran_order, dtype = read_header(member)
                    fits = len(stored_shape) == len(shape) and all(
                        want is None or want == got for want, got in zip(shape, stored_shape, strict=True)
                    )
                    if not fits or dtype.hasobject or dtype.kind not in "fiu":
                        expected = tuple("N" if want is None else want for want in shape)
                        raise FormatError(
                            f"{path}: '{name}' must be a numeric array of shape "
                            f"{expected if None in shape else shape}, got {dtype} of shape {stored_shape}"
                        )
                    count = int(np.prod(stored_shape, dtype=object))
                    size = count * dtype.itemsize
                    if size > info.file_size:
                        raise FormatError(
                            f"{path}: '{name}' claims {count} {dtype} values ({size} bytes) but its "
                            f"member holds {info.file_size} bytes"
                        )
                    data = member.read(size)
                    if len(data) != size:
                        raise FormatError(f"{path}: '{name}' is truncated")
                    array = np.frombuffer(data, dtype=dtype).reshape(stored_shape, order="F" if fortran_order else "C")
                    arrays[name] = array.astype(np.float64)
    except FormatError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise FormatError(f"{path}: not a readable .npz archive ({err})") from err
    return arrays
