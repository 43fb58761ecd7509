"""Reading images, with errors that name the file and the problem.

Missing files raise ``FileNotFoundError``; files that exist but cannot be decoded (empty, truncated,
corrupt, unsupported, a header claiming more pixels than Pillow's decompression-bomb limit, float pixels
that are NaN or infinite) raise ``ImageReadError``, a ``ValueError``. Training code catches both to skip a
sample (``IMAGE_ERRORS``). Reading a header (:func:`image_size`) and decoding (:func:`open_image`) refuse the
same files the same way.
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


def _open_header(path: Path) -> Image.Image:
    """``path`` opened by Pillow, its header read and checked (not decoded): the one gate of every image read.

    Raises:
        FileNotFoundError: no such file.
        ImageReadError: a folder, an empty file, an unknown or corrupt header, or a header claiming more than
            twice ``Image.MAX_IMAGE_PIXELS`` pixels (a decompression bomb: a tiny file that would decode to
            gigabytes).
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        return Image.open(path)
    except UnidentifiedImageError as err:
        raise ImageReadError(f"{path}: not a readable image (unknown or corrupt format)") from err
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{path}: refused, the header claims more pixels than an image may have ({err})") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: not a readable image ({err})") from err


def open_image(path: Path) -> Image.Image:
    """Open and fully decode ``path`` (Pillow decodes lazily: truncation shows up only on ``load``)."""
    image = _open_header(path)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        image.close()
        raise ImageReadError(f"{path}: cannot decode image ({err})") from err
    return image


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` in pixels of the image as ``read_image`` returns it (EXIF orientation applied).

    Reads only the header (checked as :func:`open_image` checks it): the file is not decoded, so corruption
    past the header is not detected.
    """
    path = Path(path)
    with _open_header(path) as image:
        try:
            width, height = image.size
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        except (OSError, SyntaxError, ValueError) as err:
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
        ImageReadError: the file is empty, truncated, corrupt or not an image, or a float image has NaN or
            infinite pixels (the message gives their count).
    """
    path = Path(path)
    image = open_image(path)
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
        # the only mode that can hold NaN or infinity: a model fed one returns a NaN loss, blamed on the optimiser
        bad = int(np.count_nonzero(~np.isfinite(gray)))
        if bad:
            raise ImageReadError(f"{path}: {bad} of {gray.size} pixels are NaN or infinite")
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
