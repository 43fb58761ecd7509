"""Microsoft 7-Scenes (Kinect v1 RGB-D, 640x480), in the layout Microsoft ships.

Layout: ``<root>/<scene>/seq-XX/frame-XXXXXX.{color.png, depth.png, pose.txt}``; a scene id is
``<scene>/seq-XX``, one continuous recording. ``pose.txt`` is a 4x4 camera-to-world matrix in metres, OpenCV
axes. The dataset ships no intrinsics: the colour camera is read with the Kinect default every reference loader
uses (:data:`COLOUR_INTRINSICS`, fx = fy = 525, c = (320, 240)), so 7-Scenes geometry is approximate.

Depth: the raw ``depth.png`` (uint16 millimetres, 65535 = no measurement) is in the depth sensor's camera
(:data:`DEPTH_INTRINSICS`, f = 585) and is not registered to the colour image, so it is never attached to a
colour frame. The colour-registered ``depth.proj.png`` that evaluation code derives from it (SimpleRecon's
``7scenes_preprocessing.py``) is attached when present; :func:`write_registered_depth` makes those files
(:func:`registered_depth`: each raw map lifted in the depth camera, moved by the Kinect's depth-to-colour
calibration :data:`DEPTH_TO_COLOUR` and z-buffered into the colour camera). A colour frame may be
``.color.png`` (native) or ``.color.jpg``.

Splits: ``<scene>/TestSplit.txt`` and ``TrainSplit.txt`` list a scene's sequences as ``sequenceN`` lines
(:func:`split_sequences`); the reconstruction benchmarks evaluate the test sequences.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from muskie.data.depth_codecs import decode_depth
from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import names_in, read_text, scene_folder
from muskie.data.formats.reading import read_matrix, require
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.geometry import transfer_depth

TITLE = "7-Scenes"
# the Kinect v1 defaults at 640x480 (KinectFusion's), as every 7-Scenes loader hard-codes them
COLOUR_INTRINSICS = np.array([[525.0, 0.0, 320.0], [0.0, 525.0, 240.0], [0.0, 0.0, 1.0]])
DEPTH_INTRINSICS = np.array([[585.0, 0.0, 320.0], [0.0, 585.0, 240.0], [0.0, 0.0, 1.0]])
# depth camera -> colour camera coordinates (metres): the Kinect v1 calibration of the LIRIS activities
# dataset that SimpleRecon's 7scenes_preprocessing.py (from visloc_pseudo_gt_limitations) registers with
DEPTH_TO_COLOUR = np.array(
    [
        [9.9996518012567637e-01, 2.6765126468950343e-03, -7.9041012313000904e-03, -2.5558943178152542e-02],
        [-2.7409311281316700e-03, 9.9996302803027592e-01, -8.1504520778013286e-03, 1.0109636268061706e-04],
        [7.8819942130445332e-03, 8.1718328771890631e-03, 9.9993554558014031e-01, 2.0318321729487039e-03],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
DEPTH_SCALE = 0.001  # metres per stored unit
DEPTH_ENCODING = "png_max_invalid"
REGISTERED_SUFFIX = ".depth.proj.png"
SPLIT_FILES = {"train": "TrainSplit.txt", "test": "TestSplit.txt"}

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
    scenes = [
        f"{scene.name}/{sequence.name}"
        for scene in sorted(root.iterdir())
        if scene.is_dir()
        for sequence in sorted(scene.glob("seq-*"))
        if sequence.is_dir() and _colour_files(sequence)
    ]
    require(bool(scenes), root, TITLE, _EXPECTED)
    return scenes


def raw_depth_path(colour_path: Path) -> Path:
    """The raw depth map (depth camera, :data:`DEPTH_INTRINSICS`) recorded with a colour frame."""
    return colour_path.with_name(colour_path.name.split(".")[0] + ".depth.png")


def split_sequences(root: Path, split: str = "test") -> list[str]:
    """The scene ids (``<scene>/seq-XX``) of ``split`` (``"train"`` or ``"test"``): the ``sequenceN`` lines of
    every scene's ``TrainSplit.txt`` / ``TestSplit.txt``, scenes in name order, sequences in file order.

    Raises:
        FormatError: a scene folder without the split file, or a line that is not ``sequenceN``.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_FILES)}, got {split!r}")
    ids = []
    for scene in sorted({scene_id.split("/")[0] for scene_id in find_scenes(root)}):
        path = root / scene / SPLIT_FILES[split]
        require(path.is_file(), root, TITLE, f"{scene}/{SPLIT_FILES[split]} (the {split} split's sequences)")
        for number, line in enumerate(read_text(path).splitlines(), start=1):
            match = re.fullmatch(r"\s*sequence(\d+)\s*", line)
            if match is None:
                if line.strip():
                    raise FormatError(f"{path}: line {number}: expected 'sequenceN', got {line.strip()!r}")
                continue
            ids.append(f"{scene}/seq-{int(match.group(1)):02d}")
    return ids


def registered_depth(raw_path: Path) -> torch.Tensor:
    """The raw depth map ``raw_path`` (``frame-XXXXXX.depth.png``) seen from the colour camera: ``(480, 640)``
    float64 metres, 0 = none (65535 and 0 in the raw map are no measurement). Pixels are lifted with
    :data:`DEPTH_INTRINSICS`, moved by :data:`DEPTH_TO_COLOUR` and z-buffered with :data:`COLOUR_INTRINSICS`
    (:func:`muskie.geometry.transfer_depth`). SimpleRecon's script does the same but puts the depth camera's
    principal point half a pixel off (at (319.5, 239.5) in muskie's pixel-centre convention)."""
    raw = torch.from_numpy(decode_depth(raw_path, DEPTH_ENCODING).astype(np.float64) * DEPTH_SCALE)
    return transfer_depth(
        raw,
        torch.from_numpy(DEPTH_INTRINSICS),
        torch.from_numpy(DEPTH_TO_COLOUR),
        torch.from_numpy(COLOUR_INTRINSICS),
        (480, 640),
    )


def write_registered_depth(root: Path, scene_ids: list[str] | None = None, overwrite: bool = False) -> int:
    """Write ``frame-XXXXXX.depth.proj.png`` (uint16 millimetres, 0 = none, :func:`registered_depth`) beside
    every raw depth map of the sequences ``scene_ids`` (default: all of ``root``), as SimpleRecon's
    preprocessing does for the published evaluations. Existing files are kept unless ``overwrite``; each file
    is written under a temporary name and renamed into place. Returns the number of files written."""
    written = 0
    for scene_id in scene_ids if scene_ids is not None else find_scenes(root):
        sequence = scene_folder(root, scene_id, "<scene>/seq-XX")
        for _, colour in _colour_files(sequence):
            raw = raw_depth_path(colour)
            target = raw.with_name(raw.name.split(".")[0] + REGISTERED_SUFFIX)
            if not raw.is_file() or (target.exists() and not overwrite):
                continue
            millimetres = np.rint(registered_depth(raw).numpy() / DEPTH_SCALE).clip(0, 65534).astype(np.uint16)
            partial = target.with_name(f".{target.name}.partial")
            Image.fromarray(millimetres).save(partial, format="PNG")
            os.replace(partial, target)
            written += 1
    return written


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
        registered = stem + REGISTERED_SUFFIX
        depth_path = sequence / registered if depth and registered in names else None
        width, height = image_size(colour)
        frames.append(
            Frame(
                colour,
                width,
                height,
                intrinsics,
                pose,
                depth_path=depth_path,
                depth_scale=DEPTH_SCALE,
                depth_encoding=DEPTH_ENCODING,
            )
        )
    poses.warn()
    return Scene(name=scene_id, root=sequence, frames=frames, metric=True)


FORMAT = DatasetFormat(name="7scenes", title=TITLE, find_scenes=find_scenes, read_scene=read_scene)
