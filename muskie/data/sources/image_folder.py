"""A plain folder of images as a scene without cameras: enough for pre-training, which needs images only."""

from __future__ import annotations

import os
import re
from pathlib import Path

from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value (``frame2`` before ``frame10``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix, hidden files skipped), in natural name order."""
    folder = Path(folder)
    files = [
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def read_image_folder(path: str | os.PathLike) -> Scene:
    """Read a folder of images as a ``Scene`` with no cameras.

    Args:
        path: a folder holding images, or a scene folder whose images are in its ``images`` subfolder.

    Returns:
        ``Scene`` named after ``path``, frames in natural name order (taken as capture order), sizes read
        from the image headers (EXIF orientation applied), ``intrinsics`` and ``cam_to_world`` ``None``.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        ValueError: the folder holds no images, or an image header is unreadable (the message names it).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder")
    files = list_images(path)
    if not files and (path / "images").is_dir():
        files = list_images(path / "images")
    if not files:
        raise ValueError(f"{path}: no images found (suffixes {', '.join(sorted(IMAGE_SUFFIXES))})")
    frames = [Frame(file, *image_size(file)) for file in files]
    return Scene(name=path.resolve().name, root=path, frames=frames)
