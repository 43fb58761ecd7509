"""Microsoft 7-Scenes (Kinect v1 RGB-D, 640x480), in the layout Microsoft ships.

Layout: ``<root>/<scene>/seq-XX/frame-XXXXXX.{color.png, depth.png, pose.txt}``; a scene id is
``<scene>/seq-XX``, one continuous recording. ``pose.txt`` is a 4x4 camera-to-world matrix in metres, OpenCV
axes. The dataset ships no intrinsics: the colour camera is read with the Kinect default every reference loader
uses (:data:`COLOUR_INTRINSICS`, fx = fy = 525, c = (320, 240)), so 7-Scenes geometry is approximate.

Depth: the raw ``depth.png`` (uint16 millimetres, 65535 = no measurement) is in the depth sensor's camera
(:data:`DEPTH_INTRINSICS`, f = 585) and is not registered to the colour image, so it is never attached to a
colour frame. The colour-registered ``depth.proj.png`` that evaluation code derives from it (SimpleRecon's
``7scenes_preprocessing.py``) is attached when present. A colour frame may be ``.color.png`` (native) or
``.color.jpg``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from muskie.data.formats.base import DatasetFormat, PoseFilter
from muskie.data.formats.paths import names_in, scene_folder
from muskie.data.formats.reading import read_matrix, require
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene

TITLE = "7-Scenes"
# the Kinect v1 defaults at 640x480 (KinectFusion's), as every 7-Scenes loader hard-codes them
COLOUR_INTRINSICS = np.array([[525.0, 0.0, 320.0], [0.0, 525.0, 240.0], [0.0, 0.0, 1.0]])
DEPTH_INTRINSICS = np.array([[585.0, 0.0, 320.0], [0.0, 585.0, 240.0], [0.0, 0.0, 1.0]])
DEPTH_SCALE = 0.001  # metres per stored unit
DEPTH_ENCODING = "png_max_invalid"

_FRAME = re.compile(r"^frame-(\d+)\.color\.(png|jpg)$")
_EXPECTED = "<scene>/seq-XX/frame-XXXXXX.color.png (+ .pose.txt, .depth.png) folders"


def _colour_files(sequence: Path) -> list[tuple[int, Path]]:
    """``(frame number, colour image)`` in frame order; the native PNG wins over a JPEG of the same frame."""
    found: dict[int, Path] = {}
    for name in sorted(names_in(sequence), key=lambda name: not name.endswith(".jpg")):
        match = _FRAME.match(name)
        if match:
            found[int(match.group(1))] = sequence / name
    return sorted(found.items())


def find_scenes(root: Path) -> list[str]:
    """The ``<scene>/seq-XX`` folders under ``root`` that hold colour frames."""
    scenes = [f"{scene.name}/{sequence.name}"
              for scene in sorted(root.iterdir()) if scene.is_dir()
              for sequence in sorted(scene.glob("seq-*")) if sequence.is_dir() and _colour_files(sequence)]
    require(bool(scenes), root, TITLE, _EXPECTED)
    return scenes


def raw_depth_path(colour_path: Path) -> Path:
    """The raw depth map (depth camera, :data:`DEPTH_INTRINSICS`) recorded with a colour frame."""
    return colour_path.with_name(colour_path.name.split(".")[0] + ".depth.png")


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One recording: colour frames in frame order; with ``cameras``, :data:`COLOUR_INTRINSICS` and the
    camera-to-world poses (frames whose pose is non-finite or not rigid are skipped, with a counted
    warning); with ``depth``, the colour-registered ``depth.proj.png`` where it exists (metres)."""
    sequence = scene_folder(root, scene_id, "<scene>/seq-XX")
    require(sequence.is_dir(), root, TITLE, f"a sequence folder {scene_id}")
    names = names_in(sequence)
    poses = PoseFilter(str(sequence))
    frames = []
    for _, colour in _colour_files(sequence):
        stem = colour.name.split(".")[0]
        intrinsics = pose = None
        if cameras:
            pose = read_matrix(sequence / f"{stem}.pose.txt", (4, 4))
            if not poses.usable(pose):
                continue
            intrinsics = COLOUR_INTRINSICS
        registered = f"{stem}.depth.proj.png"
        depth_path = sequence / registered if depth and registered in names else None
        width, height = image_size(colour)
        frames.append(Frame(colour, width, height, intrinsics, pose, depth_path=depth_path,
                            depth_scale=DEPTH_SCALE, depth_encoding=DEPTH_ENCODING))
    poses.warn()
    return Scene(name=scene_id, root=sequence, frames=frames, metric=True)


FORMAT = DatasetFormat(name="7scenes", title=TITLE, find_scenes=find_scenes, read_scene=read_scene)
