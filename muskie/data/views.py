"""Multi-view sampling for training: datasets of view groups, the (V, H, W)-grouping batch sampler and worker
seeding (collation into a typed batch: ``muskie.data.batch``).

A multi-view dataset is indexed by a ``ViewRequest`` (scene index, number of views, output size, seed), so the
batch sampler decides the shape of every batch and the seed of every sample: a sample depends only on its
request, never on the worker that loads it or on what was loaded before.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from muskie.constants import normalize_image
from muskie.data.depth_codecs import read_frame_depth
from muskie.data.imageio import IMAGE_ERRORS, read_image
from muskie.data.object_zoom import mask_box, object_crop
from muskie.data.scene import Scene
from muskie.data.transforms import crop_and_resize, sample_crop
from muskie.data.undistort import check_depth_size, undistort_view

logger = logging.getLogger(__name__)

_SEED_MODULUS = 2**63 - 1
# where a sample's frames come from (MultiViewDataset ``views``)
VIEW_MODES = ("window", "neighbours")


class ViewRequest(NamedTuple):
    """What a multi-view dataset's ``__getitem__`` is asked for.

    Attributes:
        index: which scene (dataset-specific meaning, e.g. the scene's position in a list or a seed offset).
        num_views: ``V``, the number of views to return.
        height, width: output image size in pixels.
        seed: seeds every random choice made for this sample (views, crops), so a sample is reproducible.
    """

    index: int
    num_views: int
    height: int
    width: int
    seed: int


def mix_seeds(*values: int) -> int:
    """A deterministic 63-bit seed from integers (order matters)."""
    seed = 0
    for value in values:
        seed = (seed * 1_000_003 + int(value) + 1) % _SEED_MODULUS
    return seed


class MultiViewDataset(Dataset):
    """Groups of views of scenes on disk, one group per ``ViewRequest``.

    A sample of request ``(index, V, H, W, seed)``: scene ``index``; ``V`` of its frames (see below); each
    view read, cropped to the output's aspect ratio (intrinsics updated) and resized to ``(H, W)``. Every
    random choice comes from ``seed``.

    A frame with a lens distortion (``Frame.distortion``, not the identity) and intrinsics is undistorted into
    the pinhole camera of its ``K`` before the crop (``undistort_view``), whether or not the sample carries
    cameras: the views of a scene then share one projection model (straight lines stay straight, epipolar
    geometry holds) in camera-aware and images-only runs alike. Depth stored at a lower resolution of the same
    camera (a scaled copy of the image's size) is brought to the image's size by nearest neighbour.

    - Frames (``views="window"``): a window of ``window`` consecutive frames at a random start (the whole
      scene if shorter, ``V`` frames if ``window < V``); ``V`` frames of it drawn without replacement,
      returned in frame order. ``views="neighbours"``, for a scene that lists neighbours
      (``Scene.neighbours``): a random frame with at least ``V - 1`` neighbours, and ``V - 1`` of them drawn
      without replacement; a scene without neighbours falls back to its window.
    - Crop: random, of an area fraction drawn from ``crop_scale``; or, with probability ``object_zoom`` per
      sample when every chosen frame has an object mask, the crop that frames the mask's box
      (``muskie.data.object_zoom``; a view whose mask is empty keeps its random crop).

    The sample is a dict (``docs/layout.md``): ``images (V, 3, H, W)`` float32 in [-1, 1]; when the scene has
    cameras ``intrinsics (V, 3, 3)`` float32 (pixels, OpenCV) and ``cam_to_world (V, 4, 4)`` float32 (OpenCV
    axes); when it has depth ``depth (V, H, W)`` float32 z-depth in scene units and ``valid (V, H, W)`` bool;
    ``scene`` str (the scene's name). With ``images_only`` the sample holds ``images`` and ``scene`` only and
    no depth file is read.

    Bad data: with ``skip_bad`` (the default, for training) a scene with fewer than ``V`` frames or an
    unreadable image is logged as a warning with this process's running count (``num_skipped``) and the
    sample is replaced deterministically: by scene ``index + k`` (``k = 1, 2, ...``) with a seed derived
    from ``(seed, k)``. Without ``skip_bad`` the error is raised (``ValueError`` naming the scene, or the
    image's ``ImageReadError`` / ``FileNotFoundError``).

    Args:
        scenes: the scenes (e.g. from ``load_scenes``).
        window: frames per window of consecutive frames (the paper: 32; 16 for HyperSim, 64 for DL3DV).
        crop_scale: ``(low, high)`` area fraction of the random resized crop; ``(1, 1)`` for the largest crop.
        skip_bad: replace bad samples instead of raising.
        max_replacements: how many replacements to try before giving up with a ``RuntimeError``.
        images_only: return images only (pre-training): no camera or depth in the sample, no depth file read.
        object_zoom: probability in [0, 1] that a sample zooms into the object's box (frames with masks).
        views: ``"window"`` or ``"neighbours"``: where a sample's frames come from.
    """

    def __init__(
        self,
        scenes: Sequence[Scene],
        window: int = 32,
        crop_scale: tuple[float, float] = (0.8, 1.0),
        skip_bad: bool = True,
        max_replacements: int = 16,
        images_only: bool = False,
        object_zoom: float = 0.0,
        views: str = "window",
    ):
        if not scenes:
            raise ValueError("MultiViewDataset needs at least one scene")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0 <= object_zoom <= 1:
            raise ValueError(f"object_zoom must be a probability in [0, 1], got {object_zoom}")
        if views not in VIEW_MODES:
            raise ValueError(f"views must be one of {', '.join(VIEW_MODES)}, got {views!r}")
        self.scenes = list(scenes)
        self.window = window
        self.crop_scale = tuple(crop_scale)
        self.skip_bad = skip_bad
        self.max_replacements = max_replacements
        self.images_only = images_only
        self.object_zoom = object_zoom
        self.views = views
        self.num_skipped = 0

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, request: ViewRequest) -> dict:
        if not isinstance(request, ViewRequest):
            raise TypeError(f"MultiViewDataset is indexed by ViewRequest, got {type(request).__name__}")
        if not 0 <= request.index < len(self.scenes):
            raise IndexError(f"scene index {request.index} out of range for {len(self.scenes)} scenes")
        if request.num_views < 1 or request.height < 1 or request.width < 1:
            raise ValueError(f"bad request {request}: num_views, height and width must be positive")
        if not self.skip_bad:
            return self._load(request)
        for attempt in range(self.max_replacements + 1):
            current = (
                request
                if attempt == 0
                else request._replace(
                    index=(request.index + attempt) % len(self.scenes), seed=mix_seeds(request.seed, attempt)
                )
            )
            try:
                return self._load(current)
            except (ValueError, *IMAGE_ERRORS) as err:
                self.num_skipped += 1
                logger.warning(
                    "skipped bad sample %s (%s); %d skipped so far in this process", current, err, self.num_skipped
                )
        raise RuntimeError(f"request {request}: no loadable sample after {self.max_replacements} replacements")

    def _pick_frames(self, scene: Scene, num_views: int, generator: torch.Generator) -> list[int]:
        """The indices of the frames a sample shows (see the class docstring)."""
        if self.views == "neighbours" and scene.neighbours:
            anchors = sorted(i for i, partners in scene.neighbours.items() if len(partners) >= num_views - 1)
            if not anchors:
                raise ValueError(f"scene {scene.name} ({scene.root}): no frame lists {num_views - 1} neighbours")
            anchor = anchors[int(torch.randint(0, len(anchors), (), generator=generator))]
            partners = scene.neighbours[anchor]
            chosen = torch.randperm(len(partners), generator=generator)[: num_views - 1].tolist()
            return [anchor] + [partners[i] for i in chosen]
        # a window narrower than V grows to V frames
        window = min(max(self.window, num_views), len(scene))
        start = int(torch.randint(0, len(scene) - window + 1, (), generator=generator))
        return (torch.randperm(window, generator=generator)[:num_views].sort().values + start).tolist()

    def _zooms(self, scene: Scene, picks: list[int], generator: torch.Generator) -> bool:
        """Whether this sample frames the object's box; drawn only where zoom can apply, so the samples of
        scenes without masks do not depend on ``object_zoom``."""
        if self.object_zoom == 0 or not all(scene.frames[i].mask_path is not None for i in picks):
            return False
        return bool(torch.rand((), generator=generator) < self.object_zoom)

    def _load(self, request: ViewRequest) -> dict:
        scene = self.scenes[request.index]
        if len(scene) < request.num_views:
            raise ValueError(
                f"scene {scene.name} ({scene.root}) has {len(scene)} frames, "
                f"fewer than the {request.num_views} views asked for"
            )
        generator = torch.Generator().manual_seed(request.seed % _SEED_MODULUS)
        picks = self._pick_frames(scene, request.num_views, generator)
        zoom = self._zooms(scene, picks, generator)

        out_size = (request.height, request.width)
        with_cameras = scene.has_cameras and not self.images_only
        with_depth = scene.has_depth and not self.images_only
        images, intrinsics, poses, depths = [], [], [], []
        for frame_index in picks:
            frame = scene.frames[frame_index]
            image = read_image(frame.image_path)
            if tuple(image.shape[1:]) != (frame.height, frame.width):
                raise ValueError(
                    f"{frame.image_path}: image is {image.shape[2]}x{image.shape[1]}, "
                    f"scene {scene.name} says {frame.width}x{frame.height}"
                )
            k = torch.from_numpy(frame.intrinsics) if with_cameras else None
            depth = read_frame_depth(frame) if with_depth else None
            if depth is not None:
                check_depth_size(frame, depth)
            if frame.distortion is not None and not frame.distortion.is_identity and frame.intrinsics is not None:
                image, depth = undistort_view(image, frame.intrinsics, frame.distortion, depth)
            elif depth is not None and tuple(depth.shape) != tuple(image.shape[1:]):
                # a scaled copy: the depth pixel whose area holds each image pixel's centre
                depth = F.interpolate(depth[None, None], size=tuple(image.shape[1:]), mode="nearest-exact")[0, 0]
            box = sample_crop(tuple(image.shape[1:]), out_size, self.crop_scale, generator)
            object_box = mask_box(frame.mask_path, tuple(image.shape[1:])) if zoom else None
            if object_box is not None:
                box = object_crop(object_box, tuple(image.shape[1:]), out_size)
            image, k, depth = crop_and_resize(image, box, out_size, k, depth)
            images.append(image)
            if with_cameras:
                intrinsics.append(k)
                poses.append(torch.from_numpy(frame.cam_to_world))
            if with_depth:
                depths.append(depth)

        sample = {"images": normalize_image(torch.stack(images)).float()}
        if with_cameras:
            sample["intrinsics"] = torch.stack(intrinsics).float()
            sample["cam_to_world"] = torch.stack(poses).float()
        if with_depth:
            sample["depth"] = torch.stack(depths).float()
            sample["valid"] = sample["depth"] > 0
        sample["scene"] = scene.name
        return sample


class MultiViewBatchSampler(Sampler):
    """Batches of ``ViewRequest``s sharing one ``(V, H, W)``, so samples collate into ``(B, V, 3, H, W)``.

    Each epoch visits the ``num_samples`` scene indices once (shuffled if ``shuffle``), cut into batches of
    ``batch_size``; each batch draws its number of views and its size, and each request gets its own seed.
    Everything is a function of ``(seed, epoch)``: ``set_epoch`` before iterating, as with
    ``DistributedSampler``.

    A resumed run does not ask the sampler where it stopped: it addresses batches by their global index
    (``muskie.train.streams``), because a prefetching ``DataLoader`` runs the sampler ahead of training.

    Args:
        num_samples: number of scene indices (``len(dataset)``).
        batch_size: requests per batch.
        num_views: ``V`` per batch: an int (fixed), a 2-tuple ``(low, high)`` (uniform, inclusive) or a list
            of choices (uniform).
        sizes: the ``(H, W)`` output sizes a batch may take, one drawn uniformly per batch.
        seed: base seed.
        shuffle: shuffle the scene indices each epoch.
        drop_last: drop the last, smaller batch.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        num_views=(2, 8),
        sizes: Sequence[tuple[int, int]] = ((224, 224),),
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ):
        if num_samples < 1 or batch_size < 1:
            raise ValueError(f"num_samples and batch_size must be >= 1, got {num_samples} and {batch_size}")
        if isinstance(num_views, int):
            view_choices = [num_views]
        elif isinstance(num_views, tuple) and len(num_views) == 2:
            view_choices = list(range(num_views[0], num_views[1] + 1))
        else:
            view_choices = [int(v) for v in num_views]
        if not view_choices or min(view_choices) < 1:
            raise ValueError(f"num_views must give at least one choice, all >= 1; got {num_views}")
        size_choices = [(int(h), int(w)) for h, w in sizes]
        if not size_choices or min(min(size) for size in size_choices) < 1:
            raise ValueError(f"sizes must be a non-empty list of positive (H, W); got {sizes}")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.view_choices = view_choices
        self.size_choices = size_choices
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch the next iteration yields."""
        self.epoch = epoch

    def epoch_batches(self, epoch: int) -> list[list[ViewRequest]]:
        """All batches of ``epoch``, in order (a pure function of ``(seed, epoch)``)."""
        generator = torch.Generator().manual_seed(mix_seeds(self.seed, epoch))
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=generator).tolist()
        else:
            order = list(range(self.num_samples))
        num_batches = len(self)
        views = torch.randint(0, len(self.view_choices), (num_batches,), generator=generator).tolist()
        sizes = torch.randint(0, len(self.size_choices), (num_batches,), generator=generator).tolist()
        seeds = torch.randint(0, 2**62, (num_batches * self.batch_size,), generator=generator).tolist()
        batches = []
        for b in range(num_batches):
            num_views = self.view_choices[views[b]]
            height, width = self.size_choices[sizes[b]]
            positions = range(b * self.batch_size, min((b + 1) * self.batch_size, self.num_samples))
            batches.append([ViewRequest(order[i], num_views, height, width, seeds[i]) for i in positions])
        return batches

    def __iter__(self) -> Iterator[list[ViewRequest]]:
        yield from self.epoch_batches(self.epoch)


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: seed Python's and NumPy's generators from the worker's torch seed.

    PyTorch seeds each worker's torch generator from the loader's generator; this extends that seed to the
    other generators, so any randomness in a worker is reproducible given the loader's seed.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
