"""Which views of a benchmark's scenes form its samples, and how a chosen set of frames becomes a sample.

The correspondence benchmarks of the paper fix their samples instead of drawing them:

- :func:`rotation_clusters` (NAVI): for every anchor frame, the ``V`` frames of its collection whose camera
  rotation is closest to the anchor's (the anchor itself first).
- :func:`consecutive_window` / :func:`scannet_window` (ScanNet): per scene, the first run of ``V``
  consecutive available frames whose frame numbers never jump by more than ``max_gap``.
- :func:`object_box` (NAVI): the square crop around the object, from its valid depth.

The reconstruction benchmarks (7-Scenes, NRGBD) take keyframes: :func:`stride_keyframes` keeps every
``stride``-th frame of a sequence by frame number (:func:`keyframe_number`).

:func:`load_views` reads the chosen frames of a scene into the sample dict of ``docs/layout.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import torch

from muskie.constants import normalize_image
from muskie.data.depth_codecs import read_frame_depth
from muskie.data.imageio import read_image
from muskie.data.scene import Frame, Scene
from muskie.data.transforms import CropBox, centred_crop, crop_and_resize
from muskie.geometry import rotation_angle


def rotation_clusters(rotations: np.ndarray | torch.Tensor, num_views: int) -> list[list[int]]:
    """For each frame (the anchor, in order), the indices of the ``num_views`` frames with the smallest
    geodesic angle between their camera rotation and the anchor's, nearest first (the anchor, at angle 0,
    leads; ties go to the lower index). ``rotations``: ``(N, 3, 3)`` camera rotations of one collection
    (camera-to-world or world-to-camera alike: the relative angle is the same). Fewer than ``num_views``
    frames: no cluster."""
    rotations = torch.as_tensor(np.asarray(rotations), dtype=torch.float64)
    count = rotations.shape[0]
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}")
    if count < num_views:
        return []
    angles = rotation_angle(rotations[:, None], rotations[None, :])  # (N, N)
    clusters = []
    for anchor in range(count):
        order = torch.argsort(angles[anchor], stable=True)
        # a twin of the anchor (same rotation, lower index) must not take the anchor's lead
        rest = [int(i) for i in order if int(i) != anchor]
        clusters.append([anchor, *rest[: num_views - 1]])
    return clusters


def consecutive_window(numbers: Sequence[int], num_views: int, max_gap: int) -> list[int] | None:
    """Positions in ``numbers`` (increasing frame numbers of the available frames) of the first run of
    ``num_views`` consecutive entries in which each step is at most ``max_gap``; None when there is none."""
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}")
    numbers = list(numbers)
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        raise ValueError("frame numbers must be increasing")
    for start in range(len(numbers) - num_views + 1):
        if all(numbers[i + 1] - numbers[i] <= max_gap for i in range(start, start + num_views - 1)):
            return list(range(start, start + num_views))
    return None


def frame_number(frame: Frame) -> int:
    """The frame number of a ScanNet-style frame: its image file's stem (``color/123.jpg`` -> 123)."""
    try:
        return int(frame.image_path.stem)
    except ValueError:
        raise ValueError(f"{frame.image_path}: expected a numbered frame like 123.jpg") from None


def scannet_window(frames: Sequence[Frame], num_views: int = 8, max_gap: int = 35) -> list[int] | None:
    """The authors' ScanNet sample of one scene: indices into ``frames`` (the scene's available frames, those
    with a pose) of the first window of ``num_views`` frames, taken in frame-number order, whose frame numbers
    never jump by more than ``max_gap`` (35); None when the scene has no such window."""
    order = sorted(range(len(frames)), key=lambda i: frame_number(frames[i]))
    window = consecutive_window([frame_number(frames[i]) for i in order], num_views, max_gap)
    return None if window is None else [order[i] for i in window]


def keyframe_number(frame: Frame) -> int:
    """A frame's number: the last run of digits in its image file's name before the first dot
    (``frame-000120.color.png`` -> 120, ``img120.png`` -> 120)."""
    digits = re.findall(r"\d+", frame.image_path.name.split(".")[0])
    if not digits:
        raise ValueError(f"{frame.image_path}: expected a numbered frame like frame-000120.color.png or img120.png")
    return int(digits[-1])


def stride_keyframes(frames: Sequence[Frame], stride: int) -> list[int]:
    """Indices into ``frames`` (a sequence's available frames) of its keyframes: the frames numbered 0,
    ``stride``, ``2 * stride``, ... (:func:`keyframe_number`), in frame-number order. This is how Spann3R,
    CUT3R and pi3 pick the input views of a sequence (``range(N)[::stride]`` over frames numbered 0 .. N-1); a
    keyframe that is not available (no pose) is left out, not replaced by a neighbour."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    numbered = sorted((keyframe_number(frame), index) for index, frame in enumerate(frames))
    return [index for number, index in numbered if number % stride == 0]


def object_box(valid: torch.Tensor) -> CropBox:
    """The square crop around an object, from its valid-depth pixels ``valid (H, W)`` bool, as the authors'
    NAVI evaluation makes it: within the centred square of side ``min(H, W)``, the bounding box of the valid
    pixels grown to a square on its shorter side (centred), moved back inside that square where it sticks
    out. No valid pixel: the centred square."""
    height, width = valid.shape
    side = min(height, width)
    top0, left0 = (height - side) // 2, (width - side) // 2
    inside = valid[top0 : top0 + side, left0 : left0 + side]
    rows, cols = torch.nonzero(inside.any(dim=1)).flatten(), torch.nonzero(inside.any(dim=0)).flatten()
    if rows.numel() == 0:
        return CropBox(top0, left0, side, side)
    extent_h = int(rows[-1] - rows[0]) + 1
    extent_w = int(cols[-1] - cols[0]) + 1
    box = max(extent_h, extent_w)
    top = int(rows[0]) - (box - extent_h) // 2
    left = int(cols[0]) - (box - extent_w) // 2
    top = min(max(top, 0), side - box)
    left = min(max(left, 0), side - box)
    return CropBox(top0 + top, left0 + left, box, box)


def load_views(
    scene: Scene,
    indices: Sequence[int],
    size: tuple[int, int],
    object_crop: bool = False,
    centre_crop: bool = False,
    depth_of: Callable[[Frame], torch.Tensor | None] | None = None,
) -> dict:
    """The sample of frames ``indices`` of ``scene``, in that order (view 0 first), each resized to ``size =
    (H, W)``: the whole frame, with ``centre_crop`` its largest centred crop of the output's aspect
    (:func:`muskie.data.transforms.centred_crop`), or with ``object_crop`` the :func:`object_box` of its valid
    depth (the scene must then have depth). ``depth_of`` reads a frame's ``(H, W)`` depth in world units (None:
    none); default: its depth file where it names one. Returns the dict of ``docs/layout.md`` (cameras and
    depth where the scene has them)."""
    if object_crop and not scene.has_depth and depth_of is None:
        raise ValueError(f"scene {scene.name}: an object crop needs depth")
    if object_crop and centre_crop:
        raise ValueError("choose one of object_crop and centre_crop")
    images, intrinsics, poses, depths = [], [], [], []
    for index in indices:
        frame = scene.frames[index]
        image = read_image(frame.image_path)
        if depth_of is not None:
            depth = depth_of(frame)
        else:
            depth = read_frame_depth(frame) if frame.depth_path is not None else None
        k = torch.from_numpy(frame.intrinsics) if frame.intrinsics is not None else None
        if depth is not None and tuple(depth.shape) != tuple(image.shape[1:]):
            raise ValueError(
                f"{frame.depth_path or frame.image_path}: depth is {tuple(depth.shape)}, its image "
                f"{tuple(image.shape[1:])}"
            )
        if object_crop:
            box = object_box(depth > 0)
        elif centre_crop:
            box = centred_crop(tuple(image.shape[1:]), size)
        else:
            box = CropBox(0, 0, image.shape[1], image.shape[2])
        image, k, depth = crop_and_resize(image, box, size, k, depth)
        images.append(image)
        intrinsics.append(k)
        poses.append(None if frame.cam_to_world is None else torch.from_numpy(frame.cam_to_world))
        depths.append(depth)
    sample = {"images": normalize_image(torch.stack(images)).float(), "scene": scene.name}
    if all(k is not None for k in intrinsics) and all(p is not None for p in poses):
        sample["intrinsics"] = torch.stack(intrinsics).float()
        sample["cam_to_world"] = torch.stack(poses).float()
    if all(d is not None for d in depths):
        sample["depth"] = torch.stack(depths).float()
        sample["valid"] = sample["depth"] > 0
    return sample
