"""Scene sources: ``transforms.json`` folders, COLMAP models, plain image folders, dataset manifests.

``load_scene(path)`` picks the reader from what the folder holds; ``build_manifest`` indexes a dataset root
of many scenes once, ``load_manifest`` reads the index back; ``load_scenes`` takes any of these.
"""

from muskie.data.sources.colmap import read_colmap_scene, write_colmap_scene
from muskie.data.sources.detect import load_scene, scene_format
from muskie.data.sources.image_folder import read_image_folder
from muskie.data.sources.manifest import build_manifest, load_manifest, load_scenes
from muskie.data.sources.transforms_json import read_transforms_json, write_transforms_json

__all__ = [
    "build_manifest",
    "load_manifest",
    "load_scene",
    "load_scenes",
    "read_colmap_scene",
    "read_image_folder",
    "read_transforms_json",
    "scene_format",
    "write_colmap_scene",
    "write_transforms_json",
]
