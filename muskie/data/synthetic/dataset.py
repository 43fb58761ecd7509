"""``SyntheticViewDataset``: multi-view samples rendered on the fly from procedural scenes."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch.utils.data import Dataset

from muskie.constants import normalize_image
from muskie.data.synthetic.config import SyntheticConfig, split_seeds
from muskie.data.synthetic.raycast import render_views
from muskie.data.synthetic.scene_spec import SyntheticScene, make_scene
from muskie.geometry import intrinsics_from_fov

# A scene is built in ~35 ms and a 64x64 view renders in ~2 ms, so keep the last few scenes: a scene
# asked for again (the recipe uses each sample twice) costs only its views.
_SCENE_CACHE_SIZE = 4


def scene_name(split: str, index: int) -> str:
    """Name of scene ``index`` of a split, e.g. ``synthetic-train-000042``."""
    return f"synthetic-{split}-{index:06d}"


class SyntheticViewDataset(Dataset):
    """Scenes of one split, each a source of multi-view samples.

    ``dataset[request]`` with a ``muskie.data.views.ViewRequest`` ``(index, num_views, height, width, seed)``
    (any object with those attributes) renders scene ``split_seeds(split)[index]`` and draws ``num_views``
    distinct frames of its path (the window of ``config.num_frames``) with ``seed``, returned in path order.
    A plain int ``index`` asks for 4 views of 64x64 drawn with seed ``index``.

    The sample is the dict of ``docs/layout.md``: ``images (V, 3, H, W)`` float32 in [-1, 1];
    ``intrinsics (V, 3, 3)`` float32 (pixels, OpenCV); ``cam_to_world (V, 4, 4)`` float32 (OpenCV axes,
    metres); ``depth (V, H, W)`` float32 z-depth in metres (0 where invalid); ``valid (V, H, W)`` bool;
    ``scene`` str. With ``with_normals`` also ``normals (V, 3, H, W)`` float32: the renderer's unit surface
    normals in the camera frame (OpenCV axes), 0 where invalid (off by default: batches do not carry them).
    Rendering is on the CPU, in the calling process (a DataLoader worker).
    """

    def __init__(self, split: str = "train", config: SyntheticConfig = SyntheticConfig(), num_scenes: int = 1000,
                 with_normals: bool = False):
        seeds = split_seeds(split)
        if not 1 <= num_scenes <= len(seeds):
            raise ValueError(f"num_scenes must be in [1, {len(seeds)}] for split {split!r}, got {num_scenes}")
        self.split = split
        self.config = config
        self.num_scenes = num_scenes
        self.with_normals = with_normals
        self._seeds = seeds
        self._scenes: OrderedDict[int, SyntheticScene] = OrderedDict()

    def __len__(self) -> int:
        return self.num_scenes

    def scene(self, index: int) -> SyntheticScene:
        """The scene at ``index`` (generated, or taken from the small per-process cache)."""
        if not 0 <= index < self.num_scenes:
            raise IndexError(f"scene index {index} out of range for {self.num_scenes} scenes")
        if index in self._scenes:
            self._scenes.move_to_end(index)
            return self._scenes[index]
        scene = make_scene(self._seeds[index], self.config)
        self._scenes[index] = scene
        if len(self._scenes) > _SCENE_CACHE_SIZE:
            self._scenes.popitem(last=False)
        return scene

    def __getitem__(self, request) -> dict:
        if isinstance(request, int):
            index, num_views, height, width, seed = request, 4, 64, 64, request
        else:
            index, num_views, height, width, seed = (
                request.index,
                request.num_views,
                request.height,
                request.width,
                request.seed,
            )
        if not 1 <= num_views <= self.config.num_frames:
            raise ValueError(f"num_views must be in [1, {self.config.num_frames}] (the path's frames), got {num_views}")
        scene = self.scene(index)
        generator = torch.Generator().manual_seed(int(seed))
        frames = torch.randperm(self.config.num_frames, generator=generator)[:num_views].sort().values
        return render_sample(scene, frames, height, width, name=scene_name(self.split, index),
                             with_normals=self.with_normals)


def render_sample(scene: SyntheticScene, frames: torch.Tensor, height: int, width: int, name: str,
                  with_normals: bool = False) -> dict:
    """Render the path frames ``frames (V,)`` (int64) of a scene into a sample dict (see the dataset; with
    ``with_normals`` it holds ``normals`` too)."""
    intrinsics = intrinsics_from_fov(torch.full((len(frames),), scene.path.fov_degrees), height, width)
    cam_to_world = scene.path.cam_to_world[frames].to(torch.float32)
    views = render_views(scene, intrinsics, cam_to_world, height, width, with_normals=with_normals)
    sample = {
        "images": normalize_image(views.rgb),
        "intrinsics": intrinsics,
        "cam_to_world": cam_to_world,
        "depth": views.depth,
        "valid": views.valid,
        "scene": name,
    }
    if with_normals:
        sample["normals"] = views.normals
    return sample
