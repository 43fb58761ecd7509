"""``SyntheticViewDataset``: multi-view samples rendered on the fly from procedural scenes."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from muskie.constants import normalize_image
from muskie.data.synthetic.config import SyntheticConfig, split_seeds
from muskie.data.synthetic.raycast import render_views
from muskie.data.synthetic.scene_spec import SyntheticScene, make_scene
from muskie.geometry import intrinsics_from_fov

# A scene is built in ~35 ms (mostly textures and their atlas) and a 64x64 view
# renders in ~2 ms, so the last few scenes are kept by default: a scene asked for again costs only its views.
DEFAULT_SCENE_CACHE = 4
# the most scenes a dataset keeps built (each holds its textures: about 8 MB at the default texture settings)
MAX_SCENE_CACHE = 4096


def scene_name(split: str, index: int) -> str:
    """Name of scene ``index`` of a split, e.g. ``synthetic-train-000042``."""
    return f"synthetic-{split}-{index:06d}"


class SyntheticViewDataset(Dataset):
    """Scenes of one split, each a source of multi-view samples.

    ``dataset[request]`` with a ``muskie.data.views.ViewRequest`` ``(index, num_views, height, width, seed)``
    (any object with those attributes) renders scene ``split_seeds(split)[index]`` and draws ``num_views``
    distinct frames of its path (the window of ``config.num_frames``) with ``seed``, returned in path order.
    A plain int ``index`` asks for 4 views of 64x64 drawn with seed ``index``.

    ``config`` may be a list of configs, a mixture: scene ``index`` is generated with config
    ``index mod len(configs)`` (e.g. orbit, walk and forward paths at several overlaps), still from its own
    seed. A config with ``principal_shift`` or ``zoom`` moves each view's principal point and scales its
    focal length at random (from the request's seed) before rendering.

    The sample is the dict of ``docs/layout.md``: ``images (V, 3, H, W)`` float32 in [-1, 1];
    ``intrinsics (V, 3, 3)`` float32 (pixels, OpenCV); ``cam_to_world (V, 4, 4)`` float32 (OpenCV axes,
    metres); ``depth (V, H, W)`` float32 z-depth in metres (0 where invalid); ``valid (V, H, W)`` bool;
    ``scene`` str. With ``with_normals`` also ``normals (V, 3, H, W)`` float32: the renderer's unit surface
    normals in the camera frame (OpenCV axes), 0 where invalid (off by default: batches do not carry them).
    Rendering is on the CPU, in the calling process (a DataLoader worker).

    ``cache_scenes``: how many built scenes (geometry and textures, about 8 MB each at the default texture
    settings) each process keeps, least recently used first out. The cache only memoises: a sample is the
    same whether its scene was cached or not. With ``cache_scenes >= num_scenes`` every scene is built once,
    a fixed pool whose samples then cost their views only.
    """

    def __init__(
        self,
        split: str = "train",
        config: SyntheticConfig | Sequence[SyntheticConfig] = SyntheticConfig(),
        num_scenes: int = 1000,
        with_normals: bool = False,
        cache_scenes: int = DEFAULT_SCENE_CACHE,
    ):
        seeds = split_seeds(split)
        if not 1 <= num_scenes <= len(seeds):
            raise ValueError(f"num_scenes must be in [1, {len(seeds)}] for split {split!r}, got {num_scenes}")
        if not 1 <= cache_scenes <= MAX_SCENE_CACHE:
            raise ValueError(f"cache_scenes must be in [1, {MAX_SCENE_CACHE}], got {cache_scenes}")
        self.configs = [config] if isinstance(config, SyntheticConfig) else list(config)
        if not self.configs:
            raise ValueError("a synthetic mixture needs at least one config")
        self.split = split
        self.config = self.configs[0]
        self.num_scenes = num_scenes
        self.with_normals = with_normals
        self.cache_scenes = cache_scenes
        self._seeds = seeds
        self._scenes: OrderedDict[int, SyntheticScene] = OrderedDict()

    def __len__(self) -> int:
        return self.num_scenes

    def scene_config(self, index: int) -> SyntheticConfig:
        """The config scene ``index`` is generated with (its member of the mixture)."""
        return self.configs[index % len(self.configs)]

    def scene(self, index: int) -> SyntheticScene:
        """The scene at ``index`` (generated, or taken from the per-process cache of ``cache_scenes``)."""
        if not 0 <= index < self.num_scenes:
            raise IndexError(f"scene index {index} out of range for {self.num_scenes} scenes")
        if index in self._scenes:
            self._scenes.move_to_end(index)
            return self._scenes[index]
        scene = make_scene(self._seeds[index], self.scene_config(index))
        self._scenes[index] = scene
        if len(self._scenes) > self.cache_scenes:
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
        config = self.scene_config(index)
        if not 1 <= num_views <= config.num_frames:
            raise ValueError(f"num_views must be in [1, {config.num_frames}] (the path's frames), got {num_views}")
        scene = self.scene(index)
        generator = torch.Generator().manual_seed(int(seed))
        frames = torch.randperm(config.num_frames, generator=generator)[:num_views].sort().values
        jitter = view_jitter(config, num_views, generator) if config.jitters_views else None
        return render_sample(
            scene,
            frames,
            height,
            width,
            name=scene_name(self.split, index),
            jitter=jitter,
            with_normals=self.with_normals,
        )


def view_jitter(config: SyntheticConfig, num_views: int, generator: torch.Generator) -> torch.Tensor:
    """``(V, 3)`` per-view ``(principal-point shift x, shift y, zoom)``: shifts as fractions of the image's
    width and height, uniform in ``[-principal_shift, principal_shift]``; zoom log-uniform in ``config.zoom``."""
    shift = (torch.rand(num_views, 2, generator=generator, dtype=torch.float64) * 2 - 1) * config.principal_shift
    low, high = math.log(config.zoom[0]), math.log(config.zoom[1])
    zoom = torch.exp(low + (high - low) * torch.rand(num_views, 1, generator=generator, dtype=torch.float64))
    return torch.cat([shift, zoom], dim=1)


def render_sample(
    scene: SyntheticScene,
    frames: torch.Tensor,
    height: int,
    width: int,
    name: str,
    jitter: torch.Tensor | None = None,
    with_normals: bool = False,
) -> dict:
    """Render the path frames ``frames (V,)`` (int64) of a scene into a sample dict (see the dataset; with
    ``with_normals`` it holds ``normals`` too); ``jitter (V, 3)`` (see :func:`view_jitter`) moves each view's
    principal point and scales its focal length."""
    intrinsics = intrinsics_from_fov(torch.full((len(frames),), scene.path.fov_degrees), height, width)
    if jitter is not None:
        intrinsics[:, 0, 2] += (jitter[:, 0] * width).float()
        intrinsics[:, 1, 2] += (jitter[:, 1] * height).float()
        intrinsics[:, :2, :2] *= jitter[:, 2, None, None].float()
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
