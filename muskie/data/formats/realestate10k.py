"""RealEstate10K: camera trajectories of YouTube clips (Google's pose files), with frames the user extracts.

Pose file ``<clip>.txt``: line 1 is the video's URL, then one row per frame of 19 numbers: ``timestamp`` (the
frame's time in the video, microseconds), ``fx fy cx cy`` in normalised image coordinates ((0, 0) the image's
top-left corner, (1, 1) its bottom-right corner), two unused zeros, and the 3x4 world-to-camera ``[R|t]`` row
by row (OpenCV axes). The scale of each clip is arbitrary (SfM), so scenes are not metric; there is no depth.

Layout: pose files in ``<root>/{train,test}/`` (Google's release), ``<root>/pose_files/`` (CameraCtrl) or
``<root>/`` itself; a scene id is the file's path relative to ``<root>`` without ``.txt``. Frames live in
``<root>/frames/<clip>/<timestamp>.{png,jpg}``, one image per row (rows without an image are left out, and
clips without a frame folder are not listed). The
dataset ships no images: extract them from the video with your own tools, or decode them once with
:func:`extract_video_frames`, which writes that layout from a video file.

Intrinsics are scaled to the size of the frame actually stored, ``K = [[W fx, 0, W cx - 1/2], [0, H fy,
H cy - 1/2], [0, 0, 1]]`` (the half pixel moves the normalised corner convention to pixel centres at integers),
so frames resized without cropping keep exact cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muskie.data.formats.base import DatasetFormat, PoseFilter
from muskie.data.formats.paths import names_in, scene_folder
from muskie.data.formats.reading import require
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.geometry import invert_pose

TITLE = "RealEstate10K"
FRAME_SUFFIXES = (".png", ".jpg")
_POSE_FOLDERS = ("train", "test", "pose_files", ".")
_ROW_LENGTH = 19
# a clip's pose file holds some hundreds of rows; far more is not a RealEstate10K pose file
_MAX_POSE_FILE_BYTES = 64 << 20


@dataclass(frozen=True)
class PoseRow:
    """One row of a pose file: ``timestamp`` (microseconds, int), ``normalised`` ``(fx, fy, cx, cy)`` and
    ``world_to_camera`` ``(4, 4)`` float64 (OpenCV axes)."""

    timestamp: int
    normalised: tuple[float, float, float, float]
    world_to_camera: np.ndarray

    def intrinsics(self, width: int, height: int) -> np.ndarray:
        """``(3, 3)`` ``K`` in pixels (centres at integers) for a frame stored at ``width x height``."""
        fx, fy, cx, cy = self.normalised
        return np.array([[width * fx, 0.0, width * cx - 0.5], [0.0, height * fy, height * cy - 0.5], [0.0, 0.0, 1.0]])


def read_pose_file(path: Path) -> tuple[str, list[PoseRow]]:
    """The video URL and the rows of a pose file, in file order.

    Raises:
        FileNotFoundError: no file.
        ValueError: a row that is not 19 numbers, or an integer timestamp (the message names file and line).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size > _MAX_POSE_FILE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, too large for a RealEstate10K pose file")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err})") from err
    if not lines:
        raise ValueError(f"{path}: empty pose file (expected the video URL on line 1, then pose rows)")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        tokens = line.split()
        try:
            if len(tokens) != _ROW_LENGTH:
                raise ValueError(f"expected {_ROW_LENGTH} numbers, got {len(tokens)}")
            timestamp = int(tokens[0])
            values = [float(token) for token in tokens[1:]]
        except ValueError as err:
            raise ValueError(f"{path}: line {number}: not a pose row ({err})") from err
        world_to_camera = np.eye(4)
        world_to_camera[:3] = np.reshape(values[6:], (3, 4))
        rows.append(PoseRow(timestamp, tuple(values[:4]), world_to_camera))
    return lines[0].strip(), rows


def find_scenes(root: Path) -> list[str]:
    """Pose files under ``root/{train,test,pose_files}`` or ``root`` whose clip has a frame folder, as ids
    without ``.txt`` (many clips' videos are no longer online, so a dataset is usually extracted in part)."""
    pose_files = sorted(
        {
            path.relative_to(root).with_suffix("").as_posix()
            for folder in _POSE_FOLDERS
            if (root / folder).is_dir()
            for path in (root / folder).glob("*.txt")
        }
    )
    require(bool(pose_files), root, TITLE, "pose files <clip>.txt in train/, test/, pose_files/ or the root")
    scenes = [scene_id for scene_id in pose_files if frame_folder(root, scene_id).is_dir()]
    require(
        bool(scenes),
        root,
        TITLE,
        f"extracted frames of its {len(pose_files)} clip(s) in "
        "frames/<clip>/<timestamp>.png (see muskie.data.formats.realestate10k.extract_video_frames)",
    )
    return scenes


def frame_folder(root: Path, scene_id: str) -> Path:
    """Where the frames of a clip live: ``<root>/frames/<clip>``."""
    return root / "frames" / Path(scene_id).name


def _frame_image(folder: Path, names: set[str], timestamp: int) -> Path | None:
    for suffix in FRAME_SUFFIXES:
        if f"{timestamp}{suffix}" in names:
            return folder / f"{timestamp}{suffix}"
    return None


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One clip: a frame per pose row whose image is in :func:`frame_folder`, in row order; with ``cameras``,
    ``K`` at each image's size and the camera-to-world pose (rows whose pose is non-finite or not rigid are
    skipped, with a counted warning). ``depth`` is accepted and ignored: RealEstate10K has none."""
    pattern = "<split>/<clip>" if "/" in scene_id else "<clip>"
    pose_path = scene_folder(root, scene_id, pattern).with_name(f"{Path(scene_id).name}.txt")
    _, rows = read_pose_file(pose_path)
    folder = frame_folder(root, scene_id)
    require(
        folder.is_dir(),
        root,
        TITLE,
        f"the clip's frames in {folder} (extract them from its video, e.g. "
        "with muskie.data.formats.realestate10k.extract_video_frames)",
    )
    names = names_in(folder)
    poses = PoseFilter(str(pose_path))
    frames = []
    for row in rows:
        image = _frame_image(folder, names, row.timestamp)
        if image is None:
            continue
        if cameras and not poses.usable(row.world_to_camera):
            continue
        width, height = image_size(image)
        intrinsics = row.intrinsics(width, height) if cameras else None
        pose = invert_pose(row.world_to_camera) if cameras else None
        frames.append(Frame(image, width, height, intrinsics, pose))
    poses.warn()
    return Scene(name=Path(scene_id).name, root=folder, frames=frames, metric=False)


def extract_video_frames(
    video_path: str | Path, pose_path: str | Path, frames_root: str | Path, match: str = "timestamp"
) -> list[Path]:
    """Decode the frames of a clip's pose rows from a video file, once, into ``<frames_root>/<clip>/
    <timestamp>.png`` (the layout :func:`read_scene` reads; pass ``<root>/frames``).

    Args:
        video_path: a video PyAV can decode (``pip install av``).
        pose_path: the clip's pose file; ``<clip>`` is its name without ``.txt``.
        match: ``"timestamp"``: each row takes the video frame shown at its timestamp (the frame whose
            presentation time is the latest at or before it; the YouTube video itself); ``"index"``: row k takes
            the video's k-th frame (a video cut to exactly the rows' frames, as CameraCtrl's are).

    Returns:
        The written images, in row order. Frames are decoded one at a time; existing images are overwritten.

    Raises:
        ImportError: PyAV is not installed.
        ValueError: the video has no video stream, or fewer frames than ``index`` matching needs, or a row's
            timestamp lies outside the video (the message names the file).
    """
    if match not in ("timestamp", "index"):
        raise ValueError(f"match must be 'timestamp' or 'index', got {match!r}")
    try:
        import av
    except ImportError as err:
        raise ImportError("reading RealEstate10K frames from a video needs PyAV (pip install av)") from err
    video_path, pose_path = Path(video_path), Path(pose_path)
    _, rows = read_pose_file(pose_path)
    out_dir = Path(frames_root) / pose_path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{row.timestamp}.png" for row in rows]
    try:
        container = av.open(str(video_path))
    except (av.error.FFmpegError, OSError) as err:
        raise ValueError(f"{video_path}: not a readable video ({err})") from err
    with container:
        if not container.streams.video:
            raise ValueError(f"{video_path}: no video stream")
        pending = sorted(range(len(rows)), key=lambda i: rows[i].timestamp if match == "timestamp" else i)
        if match == "timestamp" and pending:
            # timestamps are in microseconds, FFmpeg's time base: start at the key frame before the first row
            container.seek(rows[pending[0]].timestamp, backward=True)
        previous = None
        for index, frame in enumerate(container.decode(video=0)):
            if not pending:
                break
            if match == "index":
                if index == pending[0]:
                    frame.to_image().save(paths[pending.pop(0)])
                continue
            if frame.time is None:
                raise ValueError(f"{video_path}: frame {index} has no presentation time; use match='index'")
            # a row belongs to the last frame shown at or before its time
            while pending and rows[pending[0]].timestamp < round(frame.time * 1e6):
                if previous is None:
                    raise ValueError(f"{video_path}: row at {rows[pending[0]].timestamp} us is before the first frame")
                previous.to_image().save(paths[pending.pop(0)])
            previous = frame
        if match == "timestamp" and pending and previous is not None:
            # rows after the last frame's start still show it until the video ends (duration in microseconds)
            while pending and container.duration is not None and rows[pending[0]].timestamp <= container.duration:
                previous.to_image().save(paths[pending.pop(0)])
        if pending:
            raise ValueError(
                f"{video_path}: {len(pending)} of {len(rows)} rows of {pose_path} have no frame in "
                f"the video (match={match!r})"
            )
    return paths


FORMAT = DatasetFormat(name="realestate10k", title=TITLE, find_scenes=find_scenes, read_scene=read_scene)
