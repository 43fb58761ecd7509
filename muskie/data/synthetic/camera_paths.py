"""Camera paths through a synthetic room, in the styles of the real datasets.

World frame of every synthetic scene: metres, z up, the floor at z = 0. A path is ``num_frames``
camera-to-world poses (OpenCV axes) sharing one field of view; the dataset draws its views from them, so
``num_frames`` is the sampling window (32 frames, as the paper's window on real video).

Paths and what their ``overlap`` knob moves (``overlap`` in (0, 1), default 0.7, larger = views closer).
The knob is a setting, not a measurement: measured covisible fractions (``muskie.geometry.covisible``, 5 cm,
at 32x32) at 0.7 are rig 0.76 for random pairs; orbit 0.80 / walk 0.77 for consecutive frames and about 0.48
for random pairs of the 32-frame window; forward is lower (slanted far surfaces fail the 5 cm test at low
resolution).
- ``rig``: the pre-training default (brief section 8): cameras spread within +-``rig_spread(overlap)`` metres
  (0.5 m at 0.7) around a centre, all looking at one point 1.8-5.5 m away; about 70% of a view is seen by
  another.
- ``orbit``: CO3D-like, around an object at the room centre; ``orbit_step_degrees(overlap)`` between frames.
- ``walk``: ScanNet/ARKit-like walk around the room looking inwards; ``walk_step(overlap)`` metres per frame.
- ``forward``: driving-like, straight along a street; ``forward_step(overlap)`` metres per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from muskie.data.synthetic.config import PATH_KINDS
from muskie.geometry import look_at

UP = np.array([0.0, 0.0, 1.0])
# Cameras keep this distance (metres) from walls, floor and ceiling.
WALL_MARGIN = 0.5


@dataclass
class Room:
    """An axis-aligned room seen from inside: ``lo``, ``hi`` ``(3,)`` float64 corners in metres (floor at
    ``lo[2] = 0``); without a ceiling (streets) rays leaving through the top see the sky."""

    lo: np.ndarray
    hi: np.ndarray
    has_ceiling: bool = True

    @property
    def size(self) -> np.ndarray:
        return self.hi - self.lo


@dataclass
class CameraPath:
    """Poses of one path.

    Attributes:
        cam_to_world: ``(num_frames, 4, 4)`` float64, OpenCV axes, metres.
        fov_degrees: field of view across the larger image side.
        focus: ``(3,)`` float64 point the cameras look at (rig target, orbit centre), or ``None``.
    """

    cam_to_world: torch.Tensor
    fov_degrees: float
    focus: np.ndarray | None

    @property
    def centres(self) -> np.ndarray:
        """``(num_frames, 3)`` camera centres."""
        return self.cam_to_world[:, :3, 3].numpy()


def _check_overlap(overlap: float) -> float:
    if not 0.0 < overlap < 1.0:
        raise ValueError(f"overlap must be in (0, 1), got {overlap}")
    return float(overlap)


def rig_spread(overlap: float) -> float:
    """Half-width (metres) of the rig's camera box: 0.5 m at overlap 0.7."""
    return 0.5 * (1.0 - _check_overlap(overlap)) / 0.3


def orbit_step_degrees(overlap: float) -> float:
    """Angle between consecutive orbit frames: 6 degrees at overlap 0.7 (a 32-frame window spans 186)."""
    return 20.0 * (1.0 - _check_overlap(overlap))


def walk_step(overlap: float) -> float:
    """Metres between consecutive walk frames: 0.15 m at overlap 0.7."""
    return 0.5 * (1.0 - _check_overlap(overlap))


def forward_step(overlap: float) -> float:
    """Metres between consecutive forward frames: 0.9 m at overlap 0.7."""
    return 3.0 * (1.0 - _check_overlap(overlap))


def _poses(eyes: np.ndarray, targets: np.ndarray) -> torch.Tensor:
    eyes_t = torch.from_numpy(eyes)
    return look_at(eyes_t, torch.from_numpy(targets), torch.from_numpy(UP).expand_as(eyes_t))


def _exit_distance(room: Room, origin: np.ndarray, direction: np.ndarray) -> float:
    """Distance from ``origin`` inside the room to its walls along unit ``direction``."""
    with np.errstate(divide="ignore"):
        bound = np.where(direction > 0, room.hi, room.lo)
        t = np.where(direction != 0, (bound - origin) / direction, np.inf)
    return float(t.min())


def rig_path(rng: np.random.Generator, room: Room, num_frames: int, overlap: float, fov: float) -> CameraPath:
    """Cameras in a box of half-width ``rig_spread(overlap)`` (half that vertically), all aimed at one point
    1.8-5.5 m from the box centre (inside the room, 0.3 m from its walls)."""
    spread = rig_spread(overlap)
    margin = WALL_MARGIN + spread
    centre = np.array(
        [
            rng.uniform(room.lo[0] + margin, room.hi[0] - margin),
            rng.uniform(room.lo[1] + margin, room.hi[1] - margin),
            0.0,
        ]
    )
    centre[2] = rng.uniform(1.2, min(1.9, room.hi[2] - WALL_MARGIN - spread / 2))
    while True:
        yaw, pitch = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(-25.0, 5.0))
        direction = np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), math.sin(pitch)])
        reach = _exit_distance(room, centre, direction) - 0.3
        if reach >= 1.8:
            break
    target = centre + rng.uniform(1.8, min(5.5, reach)) * direction
    eyes = centre + rng.uniform(-1.0, 1.0, (num_frames, 3)) * np.array([spread, spread, spread / 2])
    return CameraPath(_poses(eyes, np.broadcast_to(target, eyes.shape).copy()), fov, target)


def orbit_path(rng: np.random.Generator, room: Room, num_frames: int, overlap: float, fov: float) -> CameraPath:
    """An arc around a point near the room centre at 0.3-0.6 m height (where the orbited object stands):
    radius 1.6-2.6 m, elevation 15-45 degrees, ``orbit_step_degrees(overlap)`` per frame, with a little
    hand-held jitter of radius, height and aim."""
    centre_xy = (room.lo[:2] + room.hi[:2]) / 2 + rng.uniform(-0.5, 0.5, 2)
    focus = np.array([centre_xy[0], centre_xy[1], rng.uniform(0.3, 0.6)])
    max_radius = min(focus[0] - room.lo[0], room.hi[0] - focus[0], focus[1] - room.lo[1], room.hi[1] - focus[1])
    radius = min(rng.uniform(1.6, 2.6), max_radius - WALL_MARGIN)
    elevation = math.radians(rng.uniform(15.0, 45.0))
    height = min(focus[2] + radius * math.tan(elevation), room.hi[2] - WALL_MARGIN)
    step = math.radians(orbit_step_degrees(overlap)) * rng.choice([-1.0, 1.0])
    angles = rng.uniform(0, 2 * math.pi) + step * np.arange(num_frames)
    radii = radius * (1.0 + rng.uniform(-0.03, 0.03, num_frames))
    heights = height + rng.uniform(-0.05, 0.05, num_frames)
    eyes = np.stack([focus[0] + radii * np.cos(angles), focus[1] + radii * np.sin(angles), heights], -1)
    targets = focus + rng.uniform(-0.1, 0.1, (num_frames, 3))
    return CameraPath(_poses(eyes, targets), fov, focus)


def walk_path(rng: np.random.Generator, room: Room, num_frames: int, overlap: float, fov: float) -> CameraPath:
    """A walk along an ellipse 1.2 m inside the walls at eye height 1.3-1.7 m, ``walk_step(overlap)`` metres
    per frame, looking 30-70 degrees inwards from the walking direction and 5-20 degrees down, with a slow
    sway of the gaze."""
    centre = (room.lo[:2] + room.hi[:2]) / 2
    axes = room.size[:2] / 2 - 1.2
    mean_radius = float(np.sqrt((axes**2).mean()))
    direction = rng.choice([-1.0, 1.0])
    angles = rng.uniform(0, 2 * math.pi) + direction * walk_step(overlap) / mean_radius * np.arange(num_frames)
    heights = np.full(num_frames, rng.uniform(1.3, 1.7))
    eyes = np.stack([centre[0] + axes[0] * np.cos(angles), centre[1] + axes[1] * np.sin(angles), heights], -1)
    eyes[:, 2] += 0.02 * np.sin(np.arange(num_frames) * 1.7)  # gait bob
    tangent = np.stack([-axes[0] * np.sin(angles), axes[1] * np.cos(angles)], -1) * direction
    heading = np.arctan2(tangent[:, 1], tangent[:, 0])
    # turning towards the centre: +90 degrees from the tangent when walking counter-clockwise
    inward = math.radians(rng.uniform(30.0, 70.0)) * direction
    sway = math.radians(15.0) * np.sin(rng.uniform(0, 2 * math.pi) + np.arange(num_frames) * rng.uniform(0.1, 0.3))
    yaw = heading + inward + sway
    pitch = -math.radians(rng.uniform(5.0, 20.0))
    look = np.stack(
        [np.cos(yaw) * math.cos(pitch), np.sin(yaw) * math.cos(pitch), np.full(num_frames, math.sin(pitch))], -1
    )
    return CameraPath(_poses(eyes, eyes + look), fov, None)


def forward_path(rng: np.random.Generator, room: Room, num_frames: int, overlap: float, fov: float) -> CameraPath:
    """Driving along the street (the room's x axis) from 5 m after its start, ``forward_step(overlap)``
    metres per frame, in a lane up to 1.5 m off the centre line, camera 1.4-1.8 m high, looking ahead with
    a slow sway of the heading (+-3 degrees)."""
    lane = (room.lo[1] + room.hi[1]) / 2 + rng.uniform(-1.5, 1.5)
    xs = room.lo[0] + 5.0 + forward_step(overlap) * np.arange(num_frames)
    eyes = np.stack(
        [xs, lane + 0.1 * np.sin(np.arange(num_frames) * 0.2), np.full(num_frames, rng.uniform(1.4, 1.8))], -1
    )
    # a slow steering sway, not per-frame jitter: a car's heading changes smoothly
    yaw = np.radians(3.0) * np.sin(rng.uniform(0, 2 * math.pi) + np.arange(num_frames) * rng.uniform(0.05, 0.2))
    pitch = -math.radians(rng.uniform(0.0, 4.0))
    look = np.stack(
        [np.cos(yaw) * math.cos(pitch), np.sin(yaw) * math.cos(pitch), np.full(num_frames, math.sin(pitch))], -1
    )
    return CameraPath(_poses(eyes, eyes + look), fov, None)


PATHS = {"rig": rig_path, "orbit": orbit_path, "walk": walk_path, "forward": forward_path}


def sample_room(rng: np.random.Generator, kind: str, num_frames: int, overlap: float) -> Room:
    """A room for a path: 5-10 m square-ish rooms 2.6-3.6 m high; for ``forward`` a street 8-14 m wide with
    5-12 m walls and no ceiling, long enough for the drive plus 40 m of view ahead."""
    if kind == "forward":
        length = 5.0 + forward_step(overlap) * num_frames + 40.0
        size = np.array([length, rng.uniform(8.0, 14.0), rng.uniform(5.0, 12.0)])
        return Room(
            np.zeros(3) - np.array([0.0, size[1] / 2, 0.0]), size - np.array([0.0, size[1] / 2, 0.0]), has_ceiling=False
        )
    size = np.array([rng.uniform(5.0, 10.0), rng.uniform(5.0, 10.0), rng.uniform(2.6, 3.6)])
    lo = np.array([-size[0] / 2, -size[1] / 2, 0.0])
    return Room(lo, lo + size, has_ceiling=True)


def make_camera_path(
    kind: str, rng: np.random.Generator, room: Room, num_frames: int, overlap: float, fov: float
) -> CameraPath:
    """Dispatch to the ``kind`` path (one of ``PATH_KINDS``)."""
    if kind not in PATHS:
        raise ValueError(f"unknown camera path {kind!r}; expected one of {', '.join(PATH_KINDS)}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    return PATHS[kind](rng, room, num_frames, _check_overlap(overlap), fov)
