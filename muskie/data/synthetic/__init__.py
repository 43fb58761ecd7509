"""Procedural multi-view scenes with exact geometry: textured rooms and objects, camera paths in the style
of real datasets, and a vectorised PyTorch ray caster (RGB, z-depth, validity, OpenCV cameras)."""

from muskie.data.synthetic.camera_paths import PATH_KINDS, CameraPath, Room
from muskie.data.synthetic.config import SyntheticConfig, split_seeds
from muskie.data.synthetic.dataset import SyntheticViewDataset, render_sample, scene_name
from muskie.data.synthetic.raycast import RenderedViews, render_views
from muskie.data.synthetic.scene_spec import SyntheticScene, make_scene
from muskie.data.synthetic.writer import write_synthetic_scenes

__all__ = [
    "PATH_KINDS",
    "CameraPath",
    "RenderedViews",
    "Room",
    "SyntheticConfig",
    "SyntheticScene",
    "SyntheticViewDataset",
    "make_scene",
    "render_sample",
    "render_views",
    "scene_name",
    "split_seeds",
    "write_synthetic_scenes",
]
