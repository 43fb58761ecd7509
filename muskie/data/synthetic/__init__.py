"""Procedural multi-view scenes with exact geometry: textured rooms and objects, camera paths in the style
of real datasets, and a vectorised PyTorch ray caster (RGB, z-depth, validity, OpenCV cameras)."""

from muskie.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "muskie.data.synthetic.camera_paths": ("CameraPath", "Room"),
        "muskie.data.synthetic.config": ("PATH_KINDS", "SyntheticConfig", "split_seeds"),
        "muskie.data.synthetic.dataset": ("SyntheticViewDataset", "render_sample", "scene_name"),
        "muskie.data.synthetic.raycast": ("RenderedViews", "render_views"),
        "muskie.data.synthetic.scene_spec": ("SyntheticScene", "make_scene"),
        "muskie.data.synthetic.writer": ("write_synthetic_scenes",),
    },
)

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
