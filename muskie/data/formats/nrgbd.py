"""Neural RGB-D (NRGBD: Azinovic et al., CVPR 2022), synthetic RGB-D renderings of rooms, in the layout its
authors ship (``neural_rgbd_data.zip``).

Layout (``root`` holds one folder per scene)::

    <scene>/images/img<i>.png      640x480 colour, i = 0 .. N-1 (not zero-padded)
    <scene>/depth/depth<i>.png     uint16 millimetres, 0 = none
    <scene>/poses.txt              N stacked 4x4 camera-to-world blocks (4 lines each), OpenGL camera axes

Block ``i`` of ``poses.txt`` is frame ``i``'s pose; blocks holding ``nan`` mark frames without a pose, which
are skipped with a counted warning. Poses are converted to OpenCV axes (``cam_to_world @ diag(1, -1, -1, 1)``,
as Spann3R, CUT3R and pi3 read them). The dataset ships no intrinsics file: the scenes were rendered with a
60-degree horizontal field of view, ``f = 320 / tan(30 deg) = 554.2562584220408`` px, and the principal
point at the image centre, ``(319.5, 239.5)`` with pixel centres at integers (the dataset's own evaluation
code writes it so; the feed-forward papers' loaders use ``(320, 240)``, half a pixel off). Metric. The
other depth folders some releases hold (``depth_filtered/``, ``depth_with_noise/``) are not read.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import names_in, scene_folder
from muskie.data.formats.reading import numeric_rows, require
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.geometry import opengl_to_opencv

TITLE = "NRGBD"
FOCAL = 320.0 / math.tan(math.radians(30.0))  # 554.2562584220408 px at 640x480
INTRINSICS = np.array([[FOCAL, 0.0, 319.5], [0.0, FOCAL, 239.5], [0.0, 0.0, 1.0]])
DEPTH_SCALE = 0.001  # metres per stored unit
POSES = "poses.txt"

_IMAGE = re.compile(r"^img(\d+)\.png$")
_EXPECTED = "<scene>/images/img<i>.png and <scene>/poses.txt folders"


def image_files(scene: Path) -> list[tuple[int, Path]]:
    """``(frame number, colour image)`` of a scene folder, in frame-number order."""
    found = [
        (int(match.group(1)), scene / "images" / name)
        for name in names_in(scene / "images")
        if (match := _IMAGE.match(name))
    ]
    return sorted(found)


def find_scenes(root: Path) -> list[str]:
    """The scene folders under ``root``: those holding ``images/img<i>.png`` files."""
    scenes = [scene.name for scene in sorted(root.iterdir()) if scene.is_dir() and image_files(scene)]
    require(bool(scenes), root, TITLE, _EXPECTED)
    return scenes


def read_poses(path: Path) -> list[np.ndarray]:
    """The 4x4 blocks of a ``poses.txt``, as written (OpenGL camera axes; ``nan`` entries kept).

    Raises:
        FileNotFoundError: no file.
        FormatError: a line that is not 4 numbers, or a line count that is not a multiple of 4.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows = []
    for number, values in numeric_rows(path):
        if len(values) != 4:
            raise FormatError(f"{path}: line {number}: expected 4 numbers (a row of a 4x4 pose), got {len(values)}")
        rows.append(values)
    if len(rows) % 4:
        raise FormatError(f"{path}: {len(rows)} rows of numbers, not a whole number of 4x4 poses")
    return [np.array(rows[i : i + 4], dtype=np.float64) for i in range(0, len(rows), 4)]


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One scene: frames in frame-number order; with ``cameras``, :data:`INTRINSICS` and the poses of
    ``poses.txt`` in OpenCV axes (frames whose block is ``nan`` are skipped, with a counted warning); with
    ``depth``, ``depth/depth<i>.png`` where it exists (metres).

    Raises:
        FormatError: ``poses.txt`` holds fewer blocks than the scene has frames; with ``cameras``, an image
            that is not 640x480 (the size the camera is known at).
    """
    folder = scene_folder(root, scene_id, "<scene>")
    require(folder.is_dir(), root, TITLE, f"a scene folder {scene_id}")
    images = image_files(folder)
    poses = read_poses(folder / POSES) if cameras else []
    if cameras and images and len(poses) <= images[-1][0]:
        raise FormatError(f"{folder / POSES}: {len(poses)} poses, but the scene has frame img{images[-1][0]}.png")
    depth_names = names_in(folder / "depth") if depth else set()
    usable = PoseFilter(str(folder))
    frames = []
    for number, image in images:
        intrinsics = pose = None
        if cameras:
            if not usable.usable(poses[number]):
                continue
            intrinsics, pose = INTRINSICS, opengl_to_opencv(poses[number])
        depth_path = folder / "depth" / f"depth{number}.png" if f"depth{number}.png" in depth_names else None
        width, height = image_size(image)
        if intrinsics is not None and (width, height) != (640, 480):
            raise FormatError(f"{image}: {width}x{height}, but NRGBD's camera is known at 640x480 only")
        frames.append(Frame(image, width, height, intrinsics, pose, depth_path=depth_path, depth_scale=DEPTH_SCALE))
    usable.warn()
    return Scene(name=scene_id, root=folder, frames=frames, metric=True)


FORMAT = DatasetFormat(name="nrgbd", title=TITLE, find_scenes=find_scenes, read_scene=read_scene)
