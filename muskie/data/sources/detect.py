"""Which reader a scene folder needs, and ``load_scene`` that applies it."""

from __future__ import annotations

from pathlib import Path

from muskie.data.scene import Scene
from muskie.data.sources.colmap import find_colmap_model, read_colmap_scene
from muskie.data.sources.image_folder import list_images, read_image_folder
from muskie.data.sources.transforms_json import TRANSFORMS_FILE, read_transforms_json


def scene_format(path: str | Path) -> str | None:
    """What ``path`` holds: ``"transforms_json"``, ``"colmap"``, ``"image_folder"`` or ``None`` (no scene).

    Checked in that order: a ``transforms.json`` (or the file itself); a COLMAP model in ``sparse/0``,
    ``sparse`` or the folder itself; images in the folder or its ``images`` subfolder.
    """
    path = Path(path)
    if path.is_file():
        return "transforms_json" if path.suffix == ".json" else None
    if not path.is_dir():
        return None
    if (path / TRANSFORMS_FILE).is_file():
        return "transforms_json"
    if find_colmap_model(path) is not None:
        return "colmap"
    if list_images(path) or ((path / "images").is_dir() and list_images(path / "images")):
        return "image_folder"
    return None


def load_scene(path: str | Path, allow_outside: bool = False) -> Scene:
    """Load a scene folder of any supported format (see ``scene_format``); ``allow_outside``: accept files
    that the scene's camera files name outside its folder (``transforms.json``) or its image folder (COLMAP).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` holds no recognisable scene, or its files are malformed (the message names
            the file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    kind = scene_format(path)
    if kind is None:
        raise ValueError(
            f"{path}: not a scene (no {TRANSFORMS_FILE}, no COLMAP model in sparse/0, sparse or "
            "the folder itself, no images)"
        )
    if kind == "transforms_json":
        return read_transforms_json(path, allow_outside=allow_outside)
    if kind == "colmap":
        return read_colmap_scene(path, allow_outside=allow_outside)
    return read_image_folder(path)
