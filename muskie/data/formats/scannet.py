"""ScanNet v2: RGB-D scans of indoor scenes, as ScanNet's SensReader exports them, and the ScanNet-1500
relative-pose benchmark pairs.

Export layout: ``<root>/<scene>/`` or ``<root>/scans/<scene>/`` with ``color/<i>.jpg`` (the colour camera,
1296x968), ``depth/<i>.png`` (uint16 millimetres, 0 = none, 640x480), ``pose/<i>.txt`` (4x4
**camera-to-world**, metres, OpenCV axes; lost tracking is written as ``-inf``) and
``intrinsic/intrinsic_{color,depth}.txt`` (4x4, ``K`` in the top-left 3x3). A scene id is the scene folder's
path relative to ``<root>``; frames are in frame-number order.

Colour and depth are two cameras. ``intrinsic_color`` describes the colour stream at its native
:data:`COLOUR_SIZE`; a colour image exported or resized to another size (without cropping) gets that ``K``
rescaled to its size. The depth frames are registered to the colour camera at 640x480 (their pose is the
colour frame's; ``intrinsic_depth`` is ``intrinsic_color`` rescaled to 640x480 within a pixel in typical
scans), so depth is attached where the colour images are at the depth maps' size (exported with
``image_size=[480, 640]``, as LoFTR and the DUSt3R-style preprocessings use them); beside 1296x968 colour it is
left out with a warning.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from muskie.data.formats.base import DatasetFormat, PoseFilter
from muskie.data.formats.paths import names_in, scene_folder
from muskie.data.formats.reading import npz_names, read_matrix, read_npz_arrays, require
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.transforms import resize_intrinsics

TITLE = "ScanNet"
COLOUR_SIZE = (1296, 968)  # (width, height) of the colour stream intrinsic_color describes
DEPTH_SCALE = 0.001  # metres per stored unit
_NUMBERED = re.compile(r"^(\d+)\.jpg$")


def _scene_folders(root: Path) -> list[Path]:
    return [
        folder
        for base in (root, root / "scans")
        if base.is_dir()
        for folder in base.iterdir()
        if (folder / "color").is_dir()
    ]


def find_scenes(root: Path) -> list[str]:
    """The scene folders (holding ``color/``) in ``root`` or ``root/scans``."""
    scenes = sorted(folder.relative_to(root).as_posix() for folder in _scene_folders(root))
    require(bool(scenes), root, TITLE, "<scene>/color (+ depth, pose, intrinsic) folders of a SensReader export")
    return scenes


def colour_intrinsics(path: Path, width: int, height: int) -> np.ndarray:
    """``(3, 3)`` ``K`` of ``intrinsic_color.txt`` (for :data:`COLOUR_SIZE`) rescaled to ``width x height``
    (pixel centres at integers)."""
    native = read_matrix(path, (4, 4))[:3, :3]
    if not np.all(np.isfinite(native)):
        raise ValueError(f"{path}: non-finite intrinsics")
    scaled = resize_intrinsics(torch.from_numpy(native), COLOUR_SIZE[::-1], (height, width))
    return scaled.numpy()


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One scan: colour frames in frame order; with ``cameras``, ``K`` at the colour images' size and the
    camera-to-world poses (frames whose pose is ``-inf`` or otherwise non-finite or not rigid are skipped,
    with a counted warning); with ``depth``, the registered depth maps where the colour images are at their
    size (metres)."""
    folder = scene_folder(root, scene_id, "scans/<scene>" if scene_id.startswith("scans/") else "<scene>")
    require((folder / "color").is_dir(), root, TITLE, f"the colour folder {folder / 'color'}")
    numbered = sorted(
        (int(match.group(1)), folder / "color" / name)
        for name in names_in(folder / "color")
        for match in [_NUMBERED.match(name)]
        if match
    )
    depth_names = names_in(folder / "depth") if depth else set()
    poses = PoseFilter(str(folder / "pose"))
    intrinsics: dict[tuple[int, int], np.ndarray] = {}
    attach_depth: bool | None = None if depth else False
    frames = []
    for number, image in numbered:
        width, height = image_size(image)
        k = pose = None
        if cameras:
            pose = read_matrix(folder / "pose" / f"{number}.txt", (4, 4))
            if not poses.usable(pose):
                continue
            if (width, height) not in intrinsics:
                intrinsics[(width, height)] = colour_intrinsics(
                    folder / "intrinsic" / "intrinsic_color.txt", width, height
                )
            k = intrinsics[(width, height)]
        depth_path = folder / "depth" / f"{number}.png"
        has_depth = depth_path.name in depth_names
        if attach_depth is None and has_depth:
            # one header decides for the scan: an export writes every depth map at one size
            depth_size = image_size(depth_path)
            attach_depth = depth_size == (width, height)
            if not attach_depth:
                warnings.warn(
                    f"{folder}: depth maps are {depth_size[0]}x{depth_size[1]}, "
                    f"the colour images {width}x{height}; depth is registered to colour only at its own "
                    "size, so it is left out (export colour with image_size=[480, 640] to use it)",
                    stacklevel=2,
                )
        frames.append(
            Frame(
                image,
                width,
                height,
                k,
                pose,
                depth_path=depth_path if attach_depth and has_depth else None,
                depth_scale=DEPTH_SCALE,
            )
        )
    poses.warn()
    return Scene(name=folder.name, root=folder, frames=frames, metric=True)


@dataclass(frozen=True)
class ScanNetPair:
    """A ScanNet-1500 test pair: ``scene`` (e.g. ``scene0707_00``), colour frame numbers ``frame0``, ``frame1``,
    ``relative_pose`` ``(4, 4)`` float64 ``T_0to1`` (maps camera-0 coordinates to camera-1 coordinates:
    ``inverse(cam_to_world_1) @ cam_to_world_0``, metres) and ``intrinsics`` ``(3, 3)`` float64: the colour
    ``K`` rescaled to 640x480, where the benchmark reads its images."""

    scene: str
    frame0: int
    frame1: int
    relative_pose: np.ndarray
    intrinsics: np.ndarray


def read_scannet1500(test_npz: str | Path, intrinsics_npz: str | Path) -> list[ScanNetPair]:
    """The pairs of LoFTR's ScanNet-1500 files: ``test.npz`` (``name`` (N, 4) ``[scene, sub_scene, frame0,
    frame1]``, ``rel_pose`` (N, 12) the top 3x4 of ``T_0to1``) and ``intrinsics.npz`` (scene -> 3x3 ``K``).

    Raises:
        ValueError: a file lacks its arrays or has the wrong shapes, or a pair's scene has no intrinsics.
    """
    test_npz, intrinsics_npz = Path(test_npz), Path(intrinsics_npz)
    for path in (test_npz, intrinsics_npz):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    # headers checked before anything is allocated: np.load would allocate what a crafted header claims
    test = read_npz_arrays(test_npz, {"name": (None, 4), "rel_pose": (None, 12)})
    names, rel_poses = test["name"].astype(np.int64), test["rel_pose"]
    scene_intrinsics = read_npz_arrays(intrinsics_npz, {name: (3, 3) for name in npz_names(intrinsics_npz)})
    if len(rel_poses) != len(names):
        raise ValueError(
            f"{test_npz}: expected name (N, 4) and rel_pose (N, 12), got {names.shape} and {rel_poses.shape}"
        )
    pairs = []
    for (scene_id, sub_scene, frame0, frame1), rel_pose in zip(names.tolist(), rel_poses, strict=True):
        scene = f"scene{scene_id:04d}_{sub_scene:02d}"
        if scene not in scene_intrinsics or scene_intrinsics[scene].shape != (3, 3):
            raise ValueError(f"{intrinsics_npz}: no 3x3 intrinsics for {scene}")
        pose = np.eye(4)
        pose[:3] = rel_pose.reshape(3, 4)
        pairs.append(ScanNetPair(scene, frame0, frame1, pose, scene_intrinsics[scene]))
    return pairs


FORMAT = DatasetFormat(name="scannet", title=TITLE, find_scenes=find_scenes, read_scene=read_scene)
