"""Reading images and depth maps, with errors that name the file and the problem.

Missing files raise ``FileNotFoundError``; files that exist but cannot be decoded (empty, truncated,
corrupt, unsupported) raise ``ImageReadError``, a ``ValueError``. Training code catches both to skip a
sample (``IMAGE_ERRORS``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# EXIF orientations 5-8 transpose the image: width and height swap.
_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
# Pillow modes holding one channel of 16- or 32-bit integers.
_INTEGER_GRAY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


class ImageReadError(ValueError):
    """An image or depth file exists but cannot be decoded; the message names the file."""


IMAGE_ERRORS = (ImageReadError, FileNotFoundError)


def _open(path: Path) -> Image.Image:
    """Open and fully decode ``path`` (Pillow decodes lazily: truncation shows up only on ``load``)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        image = Image.open(path)
        image.load()
    except UnidentifiedImageError as err:
        raise ImageReadError(f"{path}: not a readable image (unknown or corrupt format)") from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageReadError(f"{path}: cannot decode image ({err})") from err
    return image


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` in pixels of the image as ``read_image`` returns it (EXIF orientation applied).

    Reads only the header: the file is not decoded, so corruption past the header is not detected.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: not a readable image ({err})") from err
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return width, height


def read_image(path: str | Path, background: float | None = None) -> torch.Tensor:
    """Read an image as float32 RGB.

    Args:
        path: any format Pillow reads (PNG, JPEG, ...). EXIF orientation is applied. Grayscale images are
            repeated to 3 channels; 16-bit grayscale is scaled by 1/65535 (Pillow reduces 16-bit colour
            PNGs to 8 bits per channel on reading).
        background: how to treat an alpha channel. ``None`` (default) drops it and keeps the stored RGB;
            a value in [0, 1] composites the image over a uniform grey of that level.

    Returns:
        ``(3, H, W)`` float32 tensor in [0, 1].

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageReadError: the file is empty, truncated, corrupt or not an image.
    """
    path = Path(path)
    image = _open(path)
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: cannot apply EXIF orientation ({err})") from err

    alpha = None
    if image.mode in _INTEGER_GRAY_MODES:
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        rgb = np.repeat(gray[..., None], 3, axis=-1)
    elif image.mode == "F":
        gray = np.asarray(image, dtype=np.float32)
        rgb = np.repeat(gray[..., None], 3, axis=-1)
    else:
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
            rgb, alpha = rgba[..., :3], rgba[..., 3:]
        else:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if alpha is not None and background is not None:
        rgb = rgb * alpha + np.float32(background) * (1.0 - alpha)
    rgb = np.clip(rgb, 0.0, 1.0, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def read_depth(path: str | Path, scale: float = 1.0) -> torch.Tensor:
    """Read a depth map (z-depth along the optical axis).

    Args:
        path: a single-channel image (16-bit PNG, 32-bit TIFF, ...) or a ``.npy`` array of shape ``(H, W)``.
        scale: world units per stored unit (0.001 for PNGs in millimetres).

    Returns:
        ``(H, W)`` float32 tensor, depth in world units; 0 where unknown (stored 0, negative or non-finite).
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            stored = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ImageReadError(f"{path}: cannot read depth array ({err})") from err
    else:
        image = _open(path)
        if image.mode not in _INTEGER_GRAY_MODES | {"F", "L"}:
            raise ImageReadError(f"{path}: depth must be a single-channel image, got mode {image.mode}")
        stored = np.asarray(image)
    if stored.ndim != 2:
        raise ImageReadError(f"{path}: depth must be a 2-D array, got shape {stored.shape}")
    depth = stored.astype(np.float64) * float(scale)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return torch.from_numpy(depth.astype(np.float32))
