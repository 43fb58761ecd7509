"""ARKitScenes (Apple, 5,047 iPad captures of indoor rooms) in the layout its authors ship (the "raw" data).

Layout of a video folder (under ``raw/{Training,Validation}/<video_id>/``, or
``3dod/{Training,Validation}/<video_id>/<video_id>_frames/`` in the 3D detection subset; ``root`` is the
download folder, a dataset or split folder, or one video folder)::

    lowres_wide/<video_id>_<timestamp>.png              256x192 RGB frames (60 fps)
    lowres_wide_intrinsics/<video_id>_<timestamp>.pincam  "w h fx fy cx cy"
    lowres_depth/<video_id>_<timestamp>.png             uint16 millimetres, registered to the frames
    lowres_wide.traj                                    lines "timestamp rx ry rz tx ty tz"

Traps handled here:

- ``.traj`` poses are **world-to-camera** (axis-angle ``r`` in radians + translation ``t``, metres, OpenCV
  camera axes, world z up) and sampled at **other timestamps** than the frames: each frame's camera-to-world
  pose is interpolated between the two trajectory samples around its timestamp (the camera centre linearly,
  the rotation along the geodesic: slerp). Frames outside the trajectory's time range (beyond the half
  millisecond the frame names are rounded to) are skipped with a counted warning, as are frames next to a
  non-finite sample.
- The ``.pincam`` of a frame may carry a timestamp 1 ms off the frame's in its name: the exact name is tried,
  then -1 ms, then +1 ms; a frame with none is skipped with a counted warning. ``cx, cy`` are used as
  given (ARKit's principal point; the half-pixel convention is not documented, which is at most 0.5 px).
- Rotated devices: frames are left as the sensor stored them. A video shot in portrait therefore shows the
  sky to the left or right in every view, but ``K`` and the pose describe the stored image exactly, so all
  geometry is consistent, and all views of a video share the rotation (the device is held one way per
  video), so cross-view correspondence is unaffected. Rotating the images upright (DUSt3R's preprocessing
  does, by the average up vector) would need the rotation on every frame record; pre-training does not
  need upright views.

Depth is registered to the frames at the same size; the raw data does not guarantee a depth map per frame,
so with ``depth`` the frames without one are skipped with a counted warning (a scene is used with depth only
when every frame has it). ``Scene.metric`` is True. Without cameras neither the trajectory nor any
``.pincam`` is opened; without depth ``lowres_depth/`` is not listed.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.found_scenes import found_scene_folder, scene_name, walk_scene_folders
from muskie.data.formats.paths import names_in, read_text
from muskie.data.formats.reading import numeric_rows
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene

IMAGES = "lowres_wide"
INTRINSICS = "lowres_wide_intrinsics"
DEPTH = "lowres_depth"
TRAJECTORY = "lowres_wide.traj"
DEPTH_SCALE = 1e-3  # millimetres -> metres
# frame names round the timestamp to milliseconds: a frame this close past either end takes the end's pose
TIME_TOLERANCE = 0.0005
_FRAME_NAME = re.compile(r"^(?P<video>.+)_(?P<seconds>\d+\.\d+)\.(?P<suffix>png|pincam)$")
_MAX_DEPTH = 4  # 3dod/Training/<video_id>/<video_id>_frames


def _milliseconds(seconds: str) -> int:
    whole, _, fraction = seconds.partition(".")
    return int(whole) * 1000 + int((fraction + "000")[:3])


def read_pincam(path: Path) -> tuple[np.ndarray, int, int]:
    """``(K (3, 3) float64, width, height)`` of a ``.pincam`` file (``w h fx fy cx cy``).

    Raises:
        FormatError: not six finite numbers with a positive integer size.
    """
    try:
        values = [float(token) for token in read_text(path).split()]
    except ValueError as err:
        raise FormatError(f"{path}: expected 'w h fx fy cx cy' ({err})") from err
    if len(values) != 6 or not np.all(np.isfinite(values)):
        raise FormatError(f"{path}: expected six finite numbers 'w h fx fy cx cy', got {values}")
    width, height, fx, fy, cx, cy = values
    if width != int(width) or height != int(height) or width <= 0 or height <= 0:
        raise FormatError(f"{path}: image size must be positive integers, got {width} x {height}")
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), int(width), int(height)


def read_trajectory(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``.traj`` file as ``(times (N,), rotvecs (N, 3), translations (N, 3))`` float64, sorted by time: the
    world-to-camera poses ``x_cam = R(rotvec) x_world + t``; non-finite samples are kept (they mark frames
    near them as unusable).

    Raises:
        FormatError: a line that is not seven numbers, or no sample.
    """
    rows = []
    for number, values in numeric_rows(path):
        if len(values) != 7 or not np.isfinite(values[0]):
            raise FormatError(
                f"{path}: line {number}: expected 7 numbers 'timestamp rx ry rz tx ty tz' with a finite "
                f"timestamp, got {len(values)} numbers"
            )
        rows.append(values)
    if not rows:
        raise FormatError(f"{path}: no trajectory sample")
    table = np.array(rows)
    table = table[np.argsort(table[:, 0], kind="stable")]
    return table[:, 0], table[:, 1:4], table[:, 4:7]


def interpolate_poses(
    times: np.ndarray, rotvecs: np.ndarray, translations: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Camera-to-world poses ``(Q, 4, 4)`` float64 at ``queries`` (seconds, inside ``[times[0], times[-1]]``)
    from world-to-camera samples (``read_trajectory``): between the two samples around each query, the
    camera centre moves linearly and the rotation along the geodesic at constant speed (slerp). Queries next
    to a non-finite sample get a NaN pose."""
    # the samples around each query: before <= query <= after (the same sample for a one-sample trajectory)
    after = np.minimum(np.searchsorted(times, queries, side="right"), len(times) - 1)
    before = np.maximum(after - 1, 0)
    span = times[after] - times[before]
    weight = np.divide(queries - times[before], span, out=np.zeros_like(queries), where=span > 0)[:, None]
    finite = np.isfinite(rotvecs).all(1) & np.isfinite(translations).all(1)
    usable = finite[before] & finite[after]
    safe_rotvecs = np.where(finite[:, None], rotvecs, 0.0)
    # camera-to-world rotation R^T and centre -R^T t of every sample
    cam_rotations = Rotation.from_rotvec(safe_rotvecs).inv()
    centres = -cam_rotations.apply(np.where(finite[:, None], translations, 0.0))
    start = cam_rotations[before]
    step = (start.inv() * cam_rotations[after]).as_rotvec()
    poses = np.tile(np.eye(4), (len(queries), 1, 1))
    poses[:, :3, :3] = (start * Rotation.from_rotvec(weight * step)).as_matrix()
    poses[:, :3, 3] = (1 - weight) * centres[before] + weight * centres[after]
    poses[~usable] = np.nan
    return poses


def _is_video(folder: Path) -> bool:
    return (folder / IMAGES).is_dir()


def find_scenes(root: Path) -> list[str]:
    """Video folders (holding ``lowres_wide/``) at most four levels below ``root`` (``root`` itself is
    scene ``.``), as paths relative to ``root``, sorted."""
    scenes = walk_scene_folders(root, _is_video, _MAX_DEPTH)
    if not scenes:
        raise FormatError(
            f"{root}: not an ARKitScenes root: expected video folders <video_id>/{IMAGES}/ (under "
            f"raw/Training, raw/Validation or directly), up to {_MAX_DEPTH} levels down"
        )
    return scenes


def _frame_names(video_dir: Path) -> list[tuple[int, str]]:
    """``(timestamp in ms, file name)`` of the video's frames, in time order."""
    frames = []
    for name in names_in(video_dir / IMAGES):
        match = _FRAME_NAME.match(name)
        if match is None or match["suffix"] != "png":
            raise FormatError(f"{video_dir / IMAGES / name}: expected a frame named <video_id>_<seconds>.png")
        frames.append((_milliseconds(match["seconds"]), name))
    if not frames:
        raise FormatError(f"{video_dir / IMAGES}: no frames (expected <video_id>_<seconds>.png)")
    return sorted(frames)


def _pincam_files(video_dir: Path) -> dict[int, Path]:
    """timestamp in ms -> the ``.pincam`` of that name."""
    files = {}
    for name in names_in(video_dir / INTRINSICS):
        match = _FRAME_NAME.match(name)
        if match is not None and match["suffix"] == "pincam":
            files[_milliseconds(match["seconds"])] = video_dir / INTRINSICS / name
    return files


def read_scene(root: Path, scene_id: str, cameras: bool = True, depth: bool = True) -> Scene:
    """One ARKitScenes video, frames in time order (see the module docstring for what is skipped).

    Raises:
        FormatError: no frames, a frame named otherwise, a missing or malformed trajectory or ``.pincam``
            when cameras are asked for, or frames of another size than their ``.pincam`` says.
    """
    root = Path(root)
    video_dir = found_scene_folder(root, scene_id)
    display_name = scene_name(root, scene_id)
    names = _frame_names(video_dir)
    depths = names_in(video_dir / DEPTH) if depth else set()
    if depths:
        kept = [(milliseconds, name) for milliseconds, name in names if name in depths]
        if len(kept) < len(names):
            warnings.warn(
                f"{video_dir / DEPTH}: skipped {len(names) - len(kept)} frame(s) without a depth map", stacklevel=2
            )
        names = kept
        if not names:
            raise FormatError(f"{video_dir / DEPTH}: no depth map has the name of a frame of {IMAGES}/")

    def depth_of(name: str) -> Path | None:
        return video_dir / DEPTH / name if depths else None

    if not cameras:
        width, height = image_size(video_dir / IMAGES / names[0][1])  # one sensor: one size
        frames = [
            Frame(video_dir / IMAGES / name, width, height, depth_path=depth_of(name), depth_scale=DEPTH_SCALE)
            for _, name in names
        ]
        return Scene(name=display_name, root=video_dir, frames=frames, metric=True)

    trajectory = video_dir / TRAJECTORY
    if not trajectory.is_file():
        raise FormatError(f"{trajectory}: no such file (expected the video's {TRAJECTORY})")
    times, rotvecs, translations = read_trajectory(trajectory)
    pincams = _pincam_files(video_dir)
    stamps = np.array([milliseconds / 1000 for milliseconds, _ in names])
    inside = (stamps >= times[0] - TIME_TOLERANCE) & (stamps <= times[-1] + TIME_TOLERANCE)
    poses = interpolate_poses(times, rotvecs, translations, np.clip(stamps, times[0], times[-1]))

    pose_filter = PoseFilter(str(trajectory))
    no_intrinsics = 0
    frames = []
    for (milliseconds, name), pose, in_range in zip(names, poses, inside, strict=True):
        if not in_range:
            continue
        pincam = next((pincams[ms] for ms in (milliseconds, milliseconds - 1, milliseconds + 1) if ms in pincams), None)
        if pincam is None:
            no_intrinsics += 1
            continue
        if not pose_filter.usable(pose):
            continue
        intrinsics, width, height = read_pincam(pincam)
        if not frames and image_size(video_dir / IMAGES / name) != (width, height):
            raise FormatError(
                f"{video_dir / IMAGES / name}: image is {image_size(video_dir / IMAGES / name)}, "
                f"but {pincam} gives K for {(width, height)} (width, height)"
            )
        frames.append(
            Frame(
                video_dir / IMAGES / name,
                width,
                height,
                intrinsics,
                pose,
                depth_path=depth_of(name),
                depth_scale=DEPTH_SCALE,
            )
        )
    outside = int(np.count_nonzero(~inside))
    if outside:
        warnings.warn(
            f"{trajectory}: skipped {outside} frame(s) outside the trajectory's time range "
            f"[{times[0]:.3f}, {times[-1]:.3f}] s",
            stacklevel=2,
        )
    if no_intrinsics:
        warnings.warn(
            f"{video_dir / INTRINSICS}: skipped {no_intrinsics} frame(s) without a .pincam (exact "
            "timestamp or 1 ms off)",
            stacklevel=2,
        )
    pose_filter.warn()
    return Scene(name=display_name, root=video_dir, frames=frames, metric=True)


FORMAT = DatasetFormat(name="arkitscenes", title="ARKitScenes", find_scenes=find_scenes, read_scene=read_scene)
