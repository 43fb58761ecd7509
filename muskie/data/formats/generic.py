"""muskie's generic scene folders as dataset formats: ``transforms_json``, ``colmap``, ``images`` and ``auto``.

A dataset root in one of these formats is a tree of scene folders, each read by its reader in
``muskie.data.sources``; ``auto`` takes every scene folder whatever it holds (``load_scene``'s detection).
A scene's id is its folder's path relative to the root (``"."`` for a root that is itself a scene), and its
name is that path (the root's folder name for ``"."``). The option ``allow_outside`` accepts files that a scene's
camera files name outside its folder (``muskie.data.sources``' readers refuse them by default).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from muskie.data.formats.base import DatasetFormat, FormatError
from muskie.data.scene import Scene
from muskie.data.sources.detect import load_scene, scene_format
from muskie.data.sources.manifest import find_scene_dirs

# format name -> (the detector's name for its scene folders, what such a folder holds, for error messages)
_KINDS = {
    "transforms_json": ("transforms_json", "a transforms.json"),
    "colmap": ("colmap", "a COLMAP model (sparse/0, sparse or the folder itself)"),
    "images": ("image_folder", "images (in the folder or its images/ subfolder)"),
}


def _scene_ids(root: Path, kind: str | None, holds: str) -> list[str]:
    """Ids of the scene folders under ``root`` whose detected format is ``kind`` (None: any)."""
    ids = [
        Path(folder.relative_to(root)).as_posix()
        for folder in find_scene_dirs(root)
        if kind is None or scene_format(folder) == kind
    ]
    if not ids:
        raise FormatError(f"{root}: no scene folder found (expected folders holding {holds})")
    return ids


def _without(scene: Scene, cameras: bool, depth: bool) -> Scene:
    """``scene`` with cameras and / or depth left out as asked (a ray-distance depth needs the cameras)."""
    if cameras and depth:
        return scene
    frames = []
    for frame in scene.frames:
        keep_depth = depth and (cameras or not frame.depth_along_ray)
        frames.append(
            dataclasses.replace(
                frame,
                intrinsics=frame.intrinsics if cameras else None,
                cam_to_world=frame.cam_to_world if cameras else None,
                depth_path=frame.depth_path if keep_depth else None,
            )
        )
    return dataclasses.replace(scene, frames=frames)


def _reader(kind: str | None):
    def read_scene(
        root: Path, scene_id: str, cameras: bool = True, depth: bool = True, allow_outside: bool = False
    ) -> Scene:
        folder = Path(root) / scene_id
        if kind is not None and scene_format(folder) != kind:
            raise FormatError(f"{folder}: not a {kind} scene folder")
        scene = load_scene(folder, allow_outside=allow_outside)
        scene.name = Path(root).resolve().name if scene_id == "." else scene_id
        # these readers read no depth file, so leaving depth out afterwards reads nothing either
        return _without(scene, cameras, depth)

    return read_scene


def _format(name: str, title: str) -> DatasetFormat:
    kind, holds = _KINDS.get(name, (None, "a transforms.json, a COLMAP model or images"))
    return DatasetFormat(
        name=name, title=title, find_scenes=lambda root: _scene_ids(Path(root), kind, holds), read_scene=_reader(kind)
    )


FORMATS = (
    _format("transforms_json", "transforms.json scene folders (nerfstudio / instant-ngp)"),
    _format("colmap", "COLMAP projects"),
    _format("images", "plain image folders"),
    _format("auto", "any of muskie's generic scene folders (detected per folder)"),
)
