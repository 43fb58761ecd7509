"""Depth files as datasets store them, decoded to z-depth in world units.

Datasets disagree on how a depth map is stored: 16-bit PNGs of millimetres (7-Scenes, ScanNet, WildRGB-D),
16-bit PNGs whose bits are float16 values (CO3Dv2), 16-bit PNGs of inverse depth (NAVI), float32 PFM
(BlendedMVS), HDF5 arrays (MegaDepth, HyperSim), NumPy arrays. A frame names its file's encoding
(``Frame.depth_encoding``, a key of :data:`DEPTH_ENCODINGS`); :func:`read_depth` decodes a file and
:func:`read_frame_depth` also applies the frame's scale and turns distances along the ray into z-depth. Every
decoder checks what a file's header claims against the file's size before allocating, so a crafted header
cannot exhaust memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from muskie.data.hdf5_arrays import hdf5_array_fits
from muskie.data.imageio import ImageReadError, open_image
from muskie.data.scene import Frame

# Pillow modes holding one channel of 8-, 16- or 32-bit values
_SINGLE_CHANNEL_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F", "L"}
_HDF5_SUFFIXES = {".h5", ".hdf5"}


def _require_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not a depth file")


def _decode_npy(path: Path) -> np.ndarray:
    _require_file(path)
    try:
        # a memory map checks the header's shape against the file's length before anything is allocated
        stored = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.array(stored)
    except (OSError, ValueError) as err:
        raise ImageReadError(f"{path}: cannot read depth array ({err})") from err


def _decode_image(path: Path) -> np.ndarray:
    image = open_image(path)
    if image.mode not in _SINGLE_CHANNEL_MODES:
        raise ImageReadError(f"{path}: depth must be a single-channel image, got mode {image.mode}")
    return np.asarray(image)


def _decode_pfm(path: Path) -> np.ndarray:
    """Portable float map: ``Pf`` (one channel) header, ``W H``, a scale whose sign gives the byte order,
    then rows of float32 from the bottom of the image up."""
    _require_file(path)
    with open(path, "rb") as handle:
        try:
            kind = handle.readline().strip()
            width, height = (int(v) for v in handle.readline().split())
            scale = float(handle.readline().strip())
        except ValueError as err:
            raise ImageReadError(f"{path}: not a PFM file (bad header)") from err
        if kind not in (b"Pf", b"PF"):
            raise ImageReadError(f"{path}: not a PFM file (starts with {kind[:8]!r}, expected b'Pf' or b'PF')")
        channels = 1 if kind == b"Pf" else 3
        if width <= 0 or height <= 0 or not math.isfinite(scale) or scale == 0:
            raise ImageReadError(f"{path}: bad PFM header (size {width}x{height}, scale {scale})")
        expected = width * height * channels * 4
        remaining = path.stat().st_size - handle.tell()
        if remaining < expected:
            raise ImageReadError(
                f"{path}: PFM header claims {width}x{height}x{channels} floats "
                f"({expected} bytes) but the file holds {remaining}"
            )
        data = np.frombuffer(handle.read(expected), dtype="<f4" if scale < 0 else ">f4")
    data = data.reshape(height, width, channels)[::-1]
    if channels == 3:
        raise ImageReadError(f"{path}: depth must have one channel, this PFM has three")
    return data[..., 0].astype(np.float32)


def _decode_hdf5(path: Path) -> np.ndarray:
    """The array of an HDF5 file: its ``depth`` dataset (MegaDepth), else its only dataset (HyperSim's
    ``dataset``)."""
    _require_file(path)
    try:
        import h5py
    except ImportError as err:
        raise ImageReadError(f"{path}: reading HDF5 depth needs h5py (pip install 'muskie[datasets]')") from err
    try:
        with h5py.File(path, "r") as handle:
            names = [name for name in handle if isinstance(handle[name], h5py.Dataset)]
            name = "depth" if "depth" in names else (names[0] if len(names) == 1 else None)
            if name is None:
                raise ImageReadError(f"{path}: no 'depth' dataset and not exactly one dataset (found {names})")
            dataset = handle[name]
            if dataset.ndim != 2:
                raise ImageReadError(f"{path}: depth must be a 2-D array, got shape {dataset.shape}")
            if not hdf5_array_fits(dataset, path):
                raise ImageReadError(
                    f"{path}: dataset {name!r} claims shape {dataset.shape} of "
                    f"{dataset.dtype}, more than the file holds"
                )
            return np.asarray(dataset[()])
    except OSError as err:
        raise ImageReadError(f"{path}: not a readable HDF5 file ({err})") from err


def _decode_png_float16(path: Path) -> np.ndarray:
    """A 16-bit PNG whose bits are IEEE float16 values (CO3Dv2's ``depths/*.geometric.png``)."""
    stored = _decode_image(path)
    if stored.dtype.itemsize < 2:
        raise ImageReadError(f"{path}: float16 depth needs a 16-bit PNG, got {stored.dtype}")
    return stored.astype(np.uint16).view(np.float16).astype(np.float32)


def _decode_png_max_invalid(path: Path) -> np.ndarray:
    """A 16-bit PNG whose largest value, 65535, marks pixels without a measurement (7-Scenes' Kinect depth):
    those become 0, the package's "no depth"."""
    stored = _decode_image(path)
    if stored.dtype != np.uint16:
        raise ImageReadError(f"{path}: expected a 16-bit PNG, got {stored.dtype}")
    return np.where(stored == np.iinfo(np.uint16).max, 0, stored).astype(np.uint16)


def _decode_png_navi_inverse(path: Path) -> np.ndarray:
    """NAVI's 16-bit depth PNGs: inverse depth, ``depth_mm = 65535 * 10 / stored``; a stored 0 is no depth
    (as NAVI's own reader and the authors' evaluation decode them)."""
    stored = _decode_image(path)
    if stored.dtype.itemsize < 2:
        raise ImageReadError(f"{path}: NAVI depth needs a 16-bit PNG, got {stored.dtype}")
    stored = stored.astype(np.float64)
    depth = np.zeros_like(stored)
    np.divide(65535.0 * 10.0, stored, out=depth, where=stored > 0)
    return depth.astype(np.float32)


def _decode_auto(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _decode_npy(path)
    if suffix == ".pfm":
        return _decode_pfm(path)
    if suffix in _HDF5_SUFFIXES:
        return _decode_hdf5(path)
    return _decode_image(path)


DEPTH_ENCODINGS: dict[str, Callable[[Path], np.ndarray]] = {
    "auto": _decode_auto,  # by suffix: .npy, .pfm, .h5/.hdf5, else a single-channel image
    "png_float16": _decode_png_float16,
    "png_max_invalid": _decode_png_max_invalid,  # 65535 = no measurement
    "png_navi_inverse": _decode_png_navi_inverse,  # NAVI: millimetres = 655350 / stored
}


def decode_depth(path: str | Path, encoding: str = "auto") -> np.ndarray:
    """The stored values of a depth file, ``(H, W)``, before any scale (see :data:`DEPTH_ENCODINGS`).

    Raises:
        FileNotFoundError: no file at ``path``.
        ImageReadError: the file cannot be decoded or is not a 2-D single-channel map.
        ValueError: an unknown ``encoding``.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"unknown depth encoding {encoding!r}; known: {', '.join(DEPTH_ENCODINGS)}")
    path = Path(path)
    stored = DEPTH_ENCODINGS[encoding](path)
    if stored.ndim != 2:
        raise ImageReadError(f"{path}: depth must be a 2-D array, got shape {stored.shape}")
    return stored


def read_depth(path: str | Path, scale: float = 1.0, encoding: str = "auto") -> torch.Tensor:
    """Read a depth map (z-depth along the optical axis).

    Args:
        path: the file; ``encoding`` says how it stores values (:data:`DEPTH_ENCODINGS`; ``auto``: 16-bit
            PNG, 32-bit TIFF, ``.npy``, ``.pfm`` or ``.h5`` by suffix).
        scale: world units per stored unit (0.001 for PNGs in millimetres).

    Returns:
        ``(H, W)`` float32 tensor, depth in world units; 0 where unknown (stored 0, negative or non-finite).
    """
    depth = decode_depth(path, encoding).astype(np.float64) * float(scale)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return torch.from_numpy(depth.astype(np.float32))


def ray_distance_to_z(distance: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Distances from the camera centre along each pixel's ray -> z-depth.

    The ray of pixel ``(u, v)`` (pixel centres at integer coordinates) is ``K^-1 (u, v, 1)``, whose z is 1,
    so ``z = distance / ||K^-1 (u, v, 1)||``. ``distance`` is ``(H, W)`` at the resolution ``intrinsics``
    (``(3, 3)``, pixels, skew allowed) describes.
    """
    height, width = distance.shape
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
    rays = pixels @ np.linalg.inv(np.asarray(intrinsics, dtype=np.float64)).T
    return distance / np.linalg.norm(rays, axis=-1)


def read_frame_depth(frame: Frame) -> torch.Tensor:
    """A frame's depth map as ``(H, W)`` float32 z-depth in world units, 0 where unknown.

    Decodes ``frame.depth_path`` with ``frame.depth_encoding``, multiplies by ``frame.depth_scale`` and, for
    ``frame.depth_along_ray``, converts distances along the ray to z-depth (the map must be at the frame's
    image size, which its intrinsics describe).

    Raises:
        ValueError: the frame has no depth, or a ray-distance map is not at the frame's size.
    """
    if frame.depth_path is None:
        raise ValueError(f"frame {frame.image_path}: has no depth map")
    depth = decode_depth(frame.depth_path, frame.depth_encoding).astype(np.float64) * frame.depth_scale
    if frame.depth_along_ray:
        if depth.shape != (frame.height, frame.width):
            raise ImageReadError(
                f"{frame.depth_path}: ray-distance depth of shape {depth.shape} does not match "
                f"the image's {frame.height}x{frame.width}, so its rays are unknown"
            )
        depth = ray_distance_to_z(depth, frame.intrinsics)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return torch.from_numpy(depth.astype(np.float32))
