"""Checks of an indexed dataset (``muskie data check``): what a wrong convention looks like before training.

A manifest's counts and image sizes, and on a random sample of frames:

- ``image size``: the image file's header agrees with the size the manifest records;
- ``intrinsics``: positive focal lengths, the principal point inside the image;
- ``reprojection``: frame ``i`` lifted with its depth and projected into a neighbour ``j`` (its first listed
  neighbour, else frame ``i + PAIR_GAP``) lands where ``j``'s own depth agrees: the median over the visible
  pixels of ``|z_j - depth_j| / depth_j``. Poses that are world-to-camera, OpenGL axes or depth in the wrong
  unit show as large errors or no overlap wherever the camera moves and turns enough between the two
  frames; a pair whose depth cannot be read fails.

Poses that are not rigid never get this far: reading the manifest refuses them (``Frame`` checks every pose
with ``muskie.geometry.poses.rigidity_error``), naming the scene and frame.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from muskie.data.depth_codecs import read_frame_depth
from muskie.data.imageio import IMAGE_ERRORS, image_size
from muskie.data.scene import Frame, Scene
from muskie.data.sources import load_manifest
from muskie.data.transforms import resize_intrinsics
from muskie.geometry.cameras import gather_pixels, nearest_pixel, pixel_grid, project_points, unproject
from muskie.progress import progress_bar

# median relative depth error of a pair of neighbouring frames above which the reprojection check fails
REPROJECTION_TOLERANCE = 0.05
# a pair overlaps when this share of frame i's valid depth pixels lands on valid depth in frame j
MIN_OVERLAP = 0.01
# frames this far apart make the pairs of scenes without neighbour lists: far enough that the camera's motion,
# not only its rotation, moves the points (a wrong depth scale barely shows between consecutive video frames),
# near enough to overlap
PAIR_GAP = 4
# frame i's depth is subsampled on a grid to about this many pixels
REPROJECTION_POINTS = 4096


@dataclass
class CheckResult:
    """One row of the report.

    Attributes:
        name: the check. checked: frames (or pairs) checked. failed: how many failed.
        measure: what ``value`` is; value: the worst (or median) measure over the checked items, or None.
        passed: the check passed (nothing checked passes).
    """

    name: str
    checked: int
    failed: int
    measure: str
    value: float | None
    passed: bool


@dataclass
class DatasetReport:
    """What :func:`check_manifest` found: counts, the image sizes (``(width, height) -> frames``), the
    median depth of the checked frames in world units (metres in metric scenes: a unit error shows as a
    factor of 1000), the checks."""

    scenes: int
    frames: int
    with_cameras: int
    with_depth: int
    with_masks: int
    metric_scenes: int
    image_sizes: Counter
    median_depth: float | None = None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def intrinsics_sane(frame: Frame) -> bool:
    """Positive focal lengths and the principal point inside the image (pixel centres at integers)."""
    k = frame.intrinsics
    return bool(
        k[0, 0] > 0 and k[1, 1] > 0 and -0.5 <= k[0, 2] <= frame.width - 0.5 and -0.5 <= k[1, 2] <= frame.height - 0.5
    )


def _depth_camera(frame: Frame) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame's z-depth ``(h, w)`` float64 and ``K`` at the depth map's resolution (which may differ
    from the image's)."""
    depth = read_frame_depth(frame).double()
    k = torch.from_numpy(frame.intrinsics)
    if tuple(depth.shape) != (frame.height, frame.width):
        k = resize_intrinsics(k, (frame.height, frame.width), tuple(depth.shape))
    return depth, k


class Reprojection(NamedTuple):
    """Frame ``i`` reprojected into frame ``j``: ``error`` the median relative depth error (None without
    overlap), ``overlap`` the share of ``i``'s depth pixels seen in ``j``, ``depth`` ``i``'s median depth."""

    error: float | None
    overlap: float
    depth: float | None


def reprojection_error(frame_i: Frame, frame_j: Frame, points: int = REPROJECTION_POINTS) -> Reprojection:
    """Frame ``i`` reprojected into frame ``j`` (:class:`Reprojection`).

    Frame ``i``'s pixels with valid depth (a grid of about ``points``) are lifted to the world and projected
    into ``j``; where they land inside ``j`` on valid depth, the error is ``|z_j - depth_j| / depth_j``.
    ``overlap`` is the share of lifted pixels that land so; the error is None when it is below
    :data:`MIN_OVERLAP`. Both frames need cameras and depth.
    """
    depth_i, k_i = _depth_camera(frame_i)
    depth_j, k_j = _depth_camera(frame_j)
    height, width = depth_i.shape
    stride = max(1, int(np.sqrt(height * width / points)))
    uv = pixel_grid(height, width, dtype=torch.float64)[::stride, ::stride].reshape(-1, 2)
    z = depth_i[::stride, ::stride].reshape(-1)
    keep = torch.isfinite(z) & (z > 0)
    if not keep.any():
        return Reprojection(None, 0.0, None)
    depth = float(z[keep].median())
    world = unproject(uv[keep], z[keep], k_i, torch.from_numpy(frame_i.cam_to_world))
    uv_j, z_j = project_points(world, k_j, torch.from_numpy(frame_j.cam_to_world))
    index, inside = nearest_pixel(uv_j, *depth_j.shape)
    observed = gather_pixels(depth_j, torch.where(inside, index, torch.zeros_like(index)))
    seen = inside & (z_j > 0) & torch.isfinite(observed) & (observed > 0)
    overlap = float(seen.sum()) / len(world)
    if overlap < MIN_OVERLAP:
        return Reprojection(None, overlap, depth)
    return Reprojection(float(((z_j[seen] - observed[seen]).abs() / observed[seen]).median()), overlap, depth)


def neighbour_of(scene: Scene, index: int, gap: int = PAIR_GAP) -> int | None:
    """The frame a frame's reprojection is checked against: its first listed neighbour, else the frame
    ``gap`` frames later (earlier near the end; nearer in a short scene), None in a scene of one frame."""
    if scene.neighbours.get(index):
        return scene.neighbours[index][0]
    if len(scene) < 2:
        return None
    gap = min(gap, len(scene) - 1)
    return index + gap if index + gap < len(scene) else max(0, index - gap)


def check_scenes(scenes: list[Scene], samples: int = 100, seed: int = 0, progress: bool = False) -> DatasetReport:
    """Counts of ``scenes`` and the checks of the module docstring on ``samples`` random frames (all when
    fewer), drawn with ``seed``; ``progress`` shows a bar over the depth reprojections (``muskie.progress``)."""
    all_frames = [frame for scene in scenes for frame in scene.frames]
    report = DatasetReport(
        scenes=len(scenes),
        frames=len(all_frames),
        with_cameras=sum(frame.has_camera for frame in all_frames),
        with_depth=sum(frame.depth_path is not None for frame in all_frames),
        with_masks=sum(frame.mask_path is not None for frame in all_frames),
        metric_scenes=sum(scene.metric for scene in scenes),
        image_sizes=Counter((frame.width, frame.height) for frame in all_frames),
    )
    # frame number p of the dataset is frame p - starts[s] of scene s, the last scene starting at or before p
    starts = np.cumsum([0] + [len(scene) for scene in scenes])
    picks = np.random.default_rng(seed).choice(len(all_frames), size=min(samples, len(all_frames)), replace=False)
    scene_of = np.searchsorted(starts, np.sort(picks), side="right") - 1
    sampled = [(scenes[s], int(p - starts[s])) for s, p in zip(scene_of, np.sort(picks), strict=True)]

    size_failures = 0
    for scene, index in sampled:
        frame = scene.frames[index]
        try:
            size_failures += image_size(frame.image_path) != (frame.width, frame.height)
        except IMAGE_ERRORS:
            size_failures += 1
    report.checks.append(
        CheckResult(
            "image size",
            len(sampled),
            size_failures,
            "frames whose header differs",
            float(size_failures),
            size_failures == 0,
        )
    )

    with_k = [scene.frames[i] for scene, i in sampled if scene.frames[i].intrinsics is not None]
    bad = sum(not intrinsics_sane(frame) for frame in with_k)
    report.checks.append(
        CheckResult("intrinsics", len(with_k), bad, "frames with f <= 0 or c outside", float(bad), bad == 0)
    )

    medians, depths, no_overlap, unreadable = [], [], 0, 0
    for scene, index in progress_bar(sampled, desc="reprojecting depth", unit="frame", enabled=progress):
        other = neighbour_of(scene, index)
        pair = (scene.frames[index], scene.frames[other]) if other is not None else ()
        if not pair or not all(f.has_camera and f.depth_path is not None for f in pair):
            continue
        try:
            result = reprojection_error(*pair)
        except (OSError, ValueError):  # a missing or corrupt depth file fails its pair, not the whole check
            unreadable += 1
            continue
        if result.depth is not None:
            depths.append(result.depth)
        if result.error is None:
            no_overlap += 1
        else:
            medians.append(result.error)
    pairs = len(medians) + no_overlap + unreadable
    value = float(np.median(medians)) if medians else None
    failed = sum(m > REPROJECTION_TOLERANCE for m in medians) + no_overlap + unreadable
    passed = pairs == 0 or (
        value is not None and value <= REPROJECTION_TOLERANCE and no_overlap <= pairs / 2 and unreadable == 0
    )
    report.checks.append(CheckResult("reprojection", pairs, failed, "median relative depth error", value, passed))
    report.median_depth = float(np.median(depths)) if depths else None
    return report


def check_manifest(path: str | Path, samples: int = 100, seed: int = 0, progress: bool = False) -> DatasetReport:
    """:func:`check_scenes` on the scenes of the manifest at ``path`` (``muskie data check``)."""
    return check_scenes(load_manifest(path), samples, seed, progress)
