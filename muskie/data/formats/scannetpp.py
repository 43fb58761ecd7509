"""ScanNet++ (1,000+ indoor scenes: a laser scan, DSLR photos and an iPhone video each) in its authors' layout.

Layout (``root`` is the release folder holding ``data/``, or ``data/`` itself)::

    data/<scene>/dslr/resized_images/DSC00001.JPG   DSLR photos, fisheye lens (1752x1168)
    data/<scene>/dslr/colmap/                       COLMAP model of them: OPENCV_FISHEYE camera
    data/<scene>/iphone/rgb/frame_000000.jpg        iPhone video frames (1920x1440), extracted by the user
    data/<scene>/iphone/depth/frame_000000.png      LiDAR depth, uint16 millimetres, 256x192
    data/<scene>/iphone/colmap/                     COLMAP model of (a subset of) the frames

Each capture is its own scene, ``<scene>/dslr`` or ``<scene>/iphone``: two cameras, each with its own model
and frame order. Both models are in the scene's metric world (aligned to the laser scan; ``metric=True``).
Conventions: COLMAP's (world-to-camera, pixel centres at half-integers; ``muskie.data.sources.colmap``); an
image named ``video/frame_000000.jpg`` in the iPhone model is ``rgb/frame_000000.jpg``.

- DSLR: the fisheye camera is ``K`` + ``Frame.distortion`` (``OPENCV_FISHEYE``), so the loader undistorts
  each photo into the pinhole camera of ``K`` (the wide periphery beyond it is cut off). No depth (the
  dataset's is rendered from the mesh). The anonymisation masks (``resized_anon_masks``) are not object
  masks and are not used.
- iPhone: depth is the frame's own camera at 256x192, a scaled copy of 1920x1440 (both axes by 2/15), so the
  loader brings it to the image's size by nearest neighbour (through the undistortion map when the model's
  camera is distorted): no depth is invented between LiDAR samples. Frames come from the video: extract
  them (and the depth) with the ScanNet++ toolkit (``iphone/prepare_iphone_data.py``); model images whose
  frame was not extracted are skipped with a counted warning.

Three formats are registered: ``scannetpp`` lists both captures of every scene, ``scannetpp-dslr`` and
``scannetpp-iphone`` one capture (``scannetpp_format``): a training that needs depth reads
``scannetpp-iphone``, since the DSLR photos have none. Without cameras no COLMAP file is opened and the
frames are the image folder's; without depth ``depth/`` is not listed.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.colmap_captures import colmap_capture_frames
from muskie.data.formats.found_scenes import found_scene_folder, scene_name, walk_scene_folders
from muskie.data.formats.paths import names_in
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene

# capture -> (its image folder, the images' suffix)
CAPTURES = {"dslr": ("resized_images", ".JPG"), "iphone": ("rgb", ".jpg")}
DEPTH = "depth"  # iphone only
DEPTH_SCALE = 1e-3  # millimetres -> metres
_MAX_DEPTH = 3  # data/<scene>/<capture>


def find_scenes(root: Path, captures: tuple[str, ...] = tuple(CAPTURES)) -> list[str]:
    """Capture folders (``dslr/`` holding ``resized_images/``, ``iphone/`` holding ``rgb/``) of the kinds in
    ``captures``, at most three levels below ``root``, as paths relative to ``root``, sorted."""

    def is_capture(folder: Path) -> bool:
        return folder.name in captures and (folder / CAPTURES[folder.name][0]).is_dir()

    scenes = walk_scene_folders(root, is_capture, _MAX_DEPTH)
    if not scenes:
        expected = " or ".join(f"<scene>/{capture}/{CAPTURES[capture][0]}/" for capture in captures)
        raise FormatError(
            f"{root}: not a ScanNet++ root: expected capture folders data/{expected}, up to {_MAX_DEPTH} levels down"
        )
    return scenes


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One ScanNet++ capture (``scene_id`` ends in ``dslr`` or ``iphone``), frames in file-name order.

    With ``cameras`` the frames are the capture's COLMAP model's (non-finite poses skipped with a counted
    warning), with ``K`` rescaled to the images' size and the lens distortion on ``Frame.distortion``.

    Raises:
        FormatError: not a capture folder, no frames, a missing or unreadable model when cameras are asked for,
            or an image path leaving the capture folder.
    """
    root = Path(root)
    capture_dir = found_scene_folder(root, scene_id)
    if capture_dir.name not in CAPTURES:
        raise FormatError(
            f"{capture_dir}: not a ScanNet++ capture folder (expected .../<scene>/dslr or .../<scene>/iphone)"
        )
    folder, suffix = CAPTURES[capture_dir.name]
    image_dir = capture_dir / folder
    if cameras:
        model_dir = capture_dir / "colmap"
        if not model_dir.is_dir():
            raise FormatError(f"{model_dir}: no such folder (expected the capture's COLMAP model)")
        pose_filter = PoseFilter(str(model_dir))
        frames = colmap_capture_frames(capture_dir, model_dir, image_dir, pose_filter)
        pose_filter.warn()
    else:
        names = sorted(name for name in names_in(image_dir) if name.endswith(suffix))
        if not names:
            raise FormatError(f"{image_dir}: no '*{suffix}' frames")
        width, height = image_size(image_dir / names[0])  # one camera: one size
        frames = [Frame(image_dir / name, width, height) for name in names]
    if depth and capture_dir.name == "iphone":
        depths = names_in(capture_dir / DEPTH)
        frames = [_with_depth(frame, capture_dir / DEPTH, depths) for frame in frames]
    return Scene(name=scene_name(root, scene_id), root=capture_dir, frames=frames, metric=True)


def _with_depth(frame: Frame, depth_dir: Path, depths: set[str]) -> Frame:
    name = frame.image_path.with_suffix(".png").name
    if name not in depths:
        return frame
    return replace(frame, depth_path=depth_dir / name, depth_scale=DEPTH_SCALE)


def scannetpp_format(capture: str) -> DatasetFormat:
    """The adapter of one capture (``"dslr"`` or ``"iphone"``: format ``scannetpp-<capture>``) or of both
    (``"both"``: format ``scannetpp``)."""
    if capture != "both" and capture not in CAPTURES:
        raise ValueError(f"unknown ScanNet++ capture {capture!r}; known: both, {', '.join(CAPTURES)}")
    captures = tuple(CAPTURES) if capture == "both" else (capture,)
    return DatasetFormat(
        name="scannetpp" if capture == "both" else f"scannetpp-{capture}",
        title="ScanNet++",
        find_scenes=partial(find_scenes, captures=captures),
        read_scene=read_scene,
    )


FORMATS = (scannetpp_format("both"), *(scannetpp_format(capture) for capture in CAPTURES))
