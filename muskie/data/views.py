"""Multi-view sampling for training: datasets of view groups, the (V, H, W)-grouping batch sampler and worker
seeding (collation into a typed batch: ``muskie.data.batch``).

A multi-view dataset is indexed by a ``ViewRequest`` (scene index, number of views, output size, seed), so the
batch sampler decides the shape of every batch and the seed of every sample: a sample depends only on its
request, never on the worker that loads it or on what was loaded before.
"""

from __future__ import annotations

import functools
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
from muskie.data.scene import Frame, Scene
from muskie.data.transforms import random_resized_crop
from muskie.geometry.distortion import LensDistortion, undistortion_map

logger = logging.getLogger(__name__)

_SEED_MODULUS = 2**63 - 1


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


@functools.lru_cache(maxsize=8)
def _undistortion_grid(intrinsics: bytes, distortion: LensDistortion, size: tuple[int, int]):
    """``grid_sample`` grid ``(1, H, W, 2)`` float32 and ``inside (H, W)`` bool of ``undistort_view``, cached
    per camera (``intrinsics``: the float64 bytes of ``K``): the views of a sample share their camera."""
    height, width = size
    k = np.frombuffer(intrinsics, dtype=np.float64).reshape(3, 3)
    pixel_map = undistortion_map(k, distortion, k, size)
    # a polynomial lens model folds back beyond the radius where it stops growing: rays past the fold land
    # inside the image again (where other rays are imaged), which the map's orientation flip gives away
    with np.errstate(invalid="ignore"):
        (du_dv, du_du), (dv_dv, dv_du) = (np.gradient(pixel_map[..., i], axis=(0, 1)) for i in (0, 1))
        unfolded = du_du * dv_dv - du_dv * dv_du > 0
    pixels = torch.from_numpy(pixel_map)
    inside = (torch.isfinite(pixels).all(-1) & (pixels[..., 0] >= -0.5) & (pixels[..., 0] <= width - 0.5)
              & (pixels[..., 1] >= -0.5) & (pixels[..., 1] <= height - 0.5) & torch.from_numpy(unfolded))
    # grid_sample's coordinates (align_corners=False): -1 and 1 are the outer edges of the image, so the same
    # grid addresses a scaled copy of it (the depth) at the same points of the field of view
    grid = torch.stack([(pixels[..., 0] + 0.5) / width, (pixels[..., 1] + 0.5) / height], dim=-1) * 2 - 1
    grid = torch.where(inside[..., None], grid, torch.zeros_like(grid)).float()[None]
    return grid, inside


def undistort_view(image: torch.Tensor, intrinsics: np.ndarray, distortion: LensDistortion,
                   depth: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resample a distorted view into the pinhole camera of its own ``K``, at the same size.

    The new camera keeps the pinhole part ``K`` of the distorted one (the frame's ``intrinsics`` stay
    exact): every undistorted pixel samples the distorted image at the forward distortion of its ray
    (``undistortion_map``), so no inversion is approximated. Barrel and fisheye lenses lose the periphery
    beyond that pinhole's field of view; where a ray has no source pixel (pincushion corners, or rays past
    the radius where a polynomial model folds back) the image is 0 and the depth 0 (unknown).

    Args:
        image: ``(3, H, W)`` float in [0, 1], the distorted image.
        intrinsics: ``(3, 3)`` pinhole part of its camera (pixels, centres at integer coordinates).
        distortion: its lens distortion.
        depth: optional ``(h, w)`` z-depth of the same camera, at the image's size or a scaled copy of it
            (``h / H = w / W``, e.g. a lower-resolution depth sensor registered to the image: the caller checks
            it); z-depth is a property of the 3D point, so undistortion moves values without changing them.

    Returns:
        ``(image (3, H, W), depth (H, W) or None)``: the image sampled bilinearly, the depth by nearest
        neighbour (no depth is invented across edges).
    """
    k = np.ascontiguousarray(intrinsics, dtype=np.float64)
    grid, inside = _undistortion_grid(k.tobytes(), distortion, tuple(image.shape[1:]))
    image = F.grid_sample(image[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    image = image * inside
    if depth is not None:
        depth = F.grid_sample(depth[None, None].float(), grid, mode="nearest", padding_mode="zeros",
                              align_corners=False)[0, 0] * inside
    return image, depth


def _check_depth_size(frame: Frame, depth: torch.Tensor) -> None:
    """A depth map must have the image's size or be a scaled copy of it (``h / H = w / W``); the error names
    the file."""
    scale_y, scale_x = depth.shape[0] / frame.height, depth.shape[1] / frame.width
    if abs(scale_y - scale_x) > 1e-6 * max(scale_x, scale_y):
        raise ValueError(f"{frame.depth_path}: depth is {depth.shape[1]}x{depth.shape[0]}, neither the image's "
                         f"size {frame.width}x{frame.height} nor a scaled copy of it")


def _mix(*values: int) -> int:
    """A deterministic 63-bit seed from integers (order matters)."""
    seed = 0
    for value in values:
        seed = (seed * 1_000_003 + int(value) + 1) % _SEED_MODULUS
    return seed


class MultiViewDataset(Dataset):
    """Groups of views of scenes on disk, one group per ``ViewRequest``.

    A sample of request ``(index, V, H, W, seed)``: scene ``index``; a window of ``window`` consecutive frames
    at a random start (the whole scene if shorter, ``V`` frames if ``window < V``); ``V`` frames of it drawn
    without replacement, returned in frame order; each view read, randomly cropped to the output's aspect
    ratio (area fraction drawn from ``crop_scale``, intrinsics updated) and resized to ``(H, W)``. Every
    random choice comes from ``seed``.

    A frame with a lens distortion (``Frame.distortion``, not the identity) and intrinsics is undistorted into
    the pinhole camera of its ``K`` before the crop (``undistort_view``), whether or not the sample carries
    cameras: the views of a scene then share one projection model (straight lines stay straight, epipolar
    geometry holds) in camera-aware and images-only runs alike. Depth stored at a lower resolution of the same
    camera (a scaled copy of the image's size) is brought to the image's size by nearest neighbour.

    The sample is a dict (``docs/layout.md``): ``images (V, 3, H, W)`` float32 in [-1, 1]; when the scene has
    cameras ``intrinsics (V, 3, 3)`` float32 (pixels, OpenCV) and ``cam_to_world (V, 4, 4)`` float32 (OpenCV
    axes); when it has depth ``depth (V, H, W)`` float32 z-depth in scene units and ``valid (V, H, W)`` bool;
    ``scene`` str (the scene's name).

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
    """

    def __init__(
        self,
        scenes: Sequence[Scene],
        window: int = 32,
        crop_scale: tuple[float, float] = (0.8, 1.0),
        skip_bad: bool = True,
        max_replacements: int = 16,
    ):
        if not scenes:
            raise ValueError("MultiViewDataset needs at least one scene")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.scenes = list(scenes)
        self.window = window
        self.crop_scale = tuple(crop_scale)
        self.skip_bad = skip_bad
        self.max_replacements = max_replacements
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
            current = request if attempt == 0 else request._replace(
                index=(request.index + attempt) % len(self.scenes), seed=_mix(request.seed, attempt))
            try:
                return self._load(current)
            except (ValueError, *IMAGE_ERRORS) as err:
                self.num_skipped += 1
                logger.warning("skipped bad sample %s (%s); %d skipped so far in this process",
                               current, err, self.num_skipped)
        raise RuntimeError(f"request {request}: no loadable sample after {self.max_replacements} replacements")

    def _load(self, request: ViewRequest) -> dict:
        scene = self.scenes[request.index]
        if len(scene) < request.num_views:
            raise ValueError(f"scene {scene.name} ({scene.root}) has {len(scene)} frames, "
                             f"fewer than the {request.num_views} views asked for")
        generator = torch.Generator().manual_seed(request.seed % _SEED_MODULUS)
        # a window narrower than V grows to V frames
        window = min(max(self.window, request.num_views), len(scene))
        start = int(torch.randint(0, len(scene) - window + 1, (), generator=generator))
        picks = torch.randperm(window, generator=generator)[:request.num_views].sort().values + start

        out_size = (request.height, request.width)
        with_cameras, with_depth = scene.has_cameras, scene.has_depth
        images, intrinsics, poses, depths = [], [], [], []
        for frame_index in picks.tolist():
            frame = scene.frames[frame_index]
            image = read_image(frame.image_path)
            if tuple(image.shape[1:]) != (frame.height, frame.width):
                raise ValueError(f"{frame.image_path}: image is {image.shape[2]}x{image.shape[1]}, "
                                 f"scene {scene.name} says {frame.width}x{frame.height}")
            depth = read_frame_depth(frame) if with_depth else None
            if depth is not None:
                _check_depth_size(frame, depth)
            if frame.distortion is not None and not frame.distortion.is_identity and frame.intrinsics is not None:
                image, depth = undistort_view(image, frame.intrinsics, frame.distortion, depth)
            elif depth is not None and tuple(depth.shape) != tuple(image.shape[1:]):
                # a scaled copy: the depth pixel whose area holds each image pixel's centre
                depth = F.interpolate(depth[None, None], size=tuple(image.shape[1:]), mode="nearest-exact")[0, 0]
            k = torch.from_numpy(frame.intrinsics) if with_cameras else None
            image, k, depth = random_resized_crop(image, out_size, k, depth, self.crop_scale, generator)
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
        generator = torch.Generator().manual_seed(_mix(self.seed, epoch))
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
