"""A synthetic scene: room, textured primitives, light and camera path, generated from one seed.

Geometry (metres, world z up, floor at z = 0) is kept in float64 so tests can check the float32 renderer
against exact values. Every primitive is a unit shape in its own local frame, mapped to the world by
``world = rotation @ (half_size * local) + centre``:

- box: the cube ``[-1, 1]^3``; 6 faces, face ``2 * axis + (side > 0)``.
- sphere: the unit sphere (``half_size`` all equal to the radius); 1 face, equirectangular.
- cylinder: ``x^2 + y^2 <= 1, |z| <= 1`` (``half_size = (r, r, half height)``); faces side, bottom, top.
- plane: the two-sided square ``|x|, |y| <= 1, z = 0`` (``half_size[2]`` is 1 and unused); 1 face.

The room's faces come first in the texture atlas (face ``2 * axis + (side is hi)``: walls x-lo, x-hi, y-lo,
y-hi, floor, ceiling), then each object's faces in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from muskie.data.synthetic.camera_paths import CameraPath, Room, make_camera_path, sample_room
from muskie.data.synthetic.config import SyntheticConfig
from muskie.data.synthetic.textures import TextureAtlas, build_atlas, random_texture
from muskie.geometry import quaternion_to_rotation

BOX, SPHERE, CYLINDER, PLANE = 0, 1, 2, 3
KIND_NAMES = ("box", "sphere", "cylinder", "plane")
FACES_PER_KIND = (6, 1, 3, 1)
_KIND_PROBABILITIES = (0.35, 0.25, 0.25, 0.15)
# Objects keep this clearance (metres) from every camera centre of the path, so no camera sits inside or
# against one.
CAMERA_CLEARANCE = 0.4
_PLACEMENT_TRIES = 30


@dataclass
class Primitives:
    """The scene's objects, sorted by kind (the ray caster handles each kind as one contiguous block).

    Attributes:
        kinds: ``(P,)`` int64 (``BOX``, ``SPHERE``, ``CYLINDER``, ``PLANE``).
        centres: ``(P, 3)`` float64; rotations: ``(P, 3, 3)`` float64, local-to-world;
        half_sizes: ``(P, 3)`` float64, see the module docstring.
        first_face: ``(P,)`` int64, the atlas face of the object's face 0.
    """

    kinds: torch.Tensor
    centres: torch.Tensor
    rotations: torch.Tensor
    half_sizes: torch.Tensor
    first_face: torch.Tensor

    def __len__(self) -> int:
        return int(self.kinds.shape[0])


@dataclass
class SyntheticScene:
    """Everything needed to render one scene.

    Attributes:
        seed: the seed it was generated from.
        room: the room (or street) bounds.
        objects: the primitives inside it.
        light: ``(3,)`` float64 unit direction towards the (directional) light.
        atlas: face textures.
        path: the camera path.
    """

    seed: int
    room: Room
    objects: Primitives
    light: np.ndarray
    atlas: TextureAtlas
    path: CameraPath


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (from a normalised Gaussian quaternion)."""
    return quaternion_to_rotation(rng.standard_normal(4))


def _yaw(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _random_shape(rng: np.random.Generator, kind: int) -> np.ndarray:
    """Half sizes of a random object of ``kind``, metres."""
    if kind == BOX:
        return rng.uniform(0.15, 0.6, 3)
    if kind == SPHERE:
        return np.full(3, rng.uniform(0.15, 0.5))
    if kind == CYLINDER:
        radius = rng.uniform(0.1, 0.35)
        return np.array([radius, radius, rng.uniform(0.2, 0.8)])
    return np.array([rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8), 1.0])


def _bounding_radius(kind: int, half: np.ndarray) -> float:
    if kind == PLANE:
        return float(np.hypot(half[0], half[1]))
    if kind == CYLINDER:
        return float(np.hypot(half[0], half[2]))
    return float(np.linalg.norm(half)) if kind == BOX else float(half[0])


def _random_pose(
    rng: np.random.Generator, kind: int, half: np.ndarray, room: Room, xy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Half the objects rest on the floor (upright, random yaw; planes stand on an edge), the others float
    at a random orientation."""
    if rng.random() < 0.5:
        if kind == PLANE:  # stand up: local z (the normal) horizontal, local y vertical
            rotation = _yaw(rng.uniform(0, 2 * math.pi)) @ np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
            height = half[1]
        else:
            rotation = _yaw(rng.uniform(0, 2 * math.pi))
            height = half[2]
        return rotation, np.array([xy[0], xy[1], room.lo[2] + height])
    radius = _bounding_radius(kind, half)
    top = room.hi[2] - radius if room.has_ceiling else 3.0
    z = rng.uniform(room.lo[2] + radius, max(room.lo[2] + radius, top))
    return _random_rotation(rng), np.array([xy[0], xy[1], z])


def _random_xy(rng: np.random.Generator, room: Room, path: CameraPath, kind_of_path: str) -> np.ndarray:
    """Where to try an object: near what the cameras look at, or anywhere they can see."""
    if kind_of_path == "forward":
        centres = path.centres
        x = rng.uniform(centres[:, 0].min(), room.hi[0] - 2.0)
        side = rng.choice([-1.0, 1.0])
        y = (room.lo[1] + room.hi[1]) / 2 + side * rng.uniform(2.5, room.size[1] / 2)
        return np.array([x, y])
    if path.focus is not None and rng.random() < 0.6:
        return path.focus[:2] + rng.normal(0.0, 1.0, 2)
    return rng.uniform(room.lo[:2], room.hi[:2])


def _fits(kind: int, half: np.ndarray, centre: np.ndarray, room: Room, cameras: np.ndarray) -> bool:
    radius = _bounding_radius(kind, half)
    inside = np.all(centre[:2] - radius >= room.lo[:2]) and np.all(centre[:2] + radius <= room.hi[:2])
    if room.has_ceiling:
        inside = inside and centre[2] + radius <= room.hi[2]
    clear = np.linalg.norm(cameras - centre, axis=-1).min() >= radius + CAMERA_CLEARANCE
    return bool(inside and clear)


def place_objects(
    rng: np.random.Generator, room: Room, path: CameraPath, config: SyntheticConfig
) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Random objects as ``(kind, half_size, rotation, centre)``, each fully inside the room and clear of
    every camera; an orbit path gets its orbited object first, resting at the orbit centre. An object that
    finds no free spot in a few tries is left out."""
    count = int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    if config.camera_path == "forward":
        count *= 2
    cameras = path.centres
    objects = []
    if config.camera_path == "orbit" and path.focus is not None:
        kind = int(rng.choice([BOX, SPHERE, CYLINDER]))
        half = _random_shape(rng, kind)
        # the orbited object's middle sits at the point the cameras look at
        if kind == SPHERE:
            half[:] = path.focus[2]
        else:
            half[2] = path.focus[2]
        rotation = _yaw(rng.uniform(0, 2 * math.pi))
        centre = np.array([path.focus[0], path.focus[1], room.lo[2] + half[2]])
        if _fits(kind, half, centre, room, cameras):
            objects.append((kind, half, rotation, centre))
    for _ in range(count):
        kind = int(rng.choice(4, p=_KIND_PROBABILITIES))
        half = _random_shape(rng, kind)
        for _ in range(_PLACEMENT_TRIES):
            rotation, centre = _random_pose(rng, kind, half, room, _random_xy(rng, room, path, config.camera_path))
            if _fits(kind, half, centre, room, cameras):
                objects.append((kind, half, rotation, centre))
                break
    objects.sort(key=lambda item: item[0])
    return objects


def _face_extents(kind: int, half: np.ndarray) -> list[tuple[float, float]]:
    """World extents (u, v) in metres of each face of an object, in face order."""
    if kind == BOX:
        extents = []
        for axis in range(3):
            b, c = [other for other in range(3) if other != axis]
            extents += [(2 * half[b], 2 * half[c])] * 2
        return extents
    if kind == SPHERE:
        return [(2 * math.pi * half[0], math.pi * half[0])]
    if kind == CYLINDER:
        return [(2 * math.pi * half[0], 2 * half[2]), (2 * half[0], 2 * half[0]), (2 * half[0], 2 * half[0])]
    return [(2 * half[0], 2 * half[1])]


def _room_extents(room: Room) -> list[tuple[float, float]]:
    size = room.size
    extents = []
    for axis in range(3):
        b, c = [other for other in range(3) if other != axis]
        extents += [(size[b], size[c])] * 2
    return extents


def _texture_shape(extent: tuple[float, float], config: SyntheticConfig) -> tuple[int, int, float]:
    """Texture ``(height, width)`` for a face and the world size of one texel."""
    width, height = extent[0] * config.texels_per_metre, extent[1] * config.texels_per_metre
    scale = min(1.0, math.sqrt(config.max_texels / (width * height)))
    width, height = max(2, round(width * scale)), max(2, round(height * scale))
    return height, width, max(extent[0] / width, extent[1] / height)


def make_scene(seed: int, config: SyntheticConfig = SyntheticConfig()) -> SyntheticScene:
    """Generate the scene of ``seed`` (deterministic: the same seed and config give the same scene on every
    machine and run). Layout, cameras and textures draw from independent streams of the seed."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    layout_rng, camera_rng, texture_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3))
    room = sample_room(layout_rng, config.camera_path, config.num_frames, config.overlap)
    fov = float(camera_rng.uniform(*config.fov_degrees))
    path = make_camera_path(config.camera_path, camera_rng, room, config.num_frames, config.overlap, fov)
    placed = place_objects(layout_rng, room, path, config)
    light = np.array([*layout_rng.uniform(-0.6, 0.6, 2), 1.0])

    extents = _room_extents(room)
    first_face = []
    for kind, half, _, _ in placed:
        first_face.append(len(extents))
        extents += _face_extents(kind, half)
    textures, texel_sizes = [], []
    for extent in extents:
        height, width, texel = _texture_shape(extent, config)
        textures.append(random_texture(texture_rng, height, width, config.noise_fraction))
        texel_sizes.append(texel)

    objects = Primitives(
        kinds=torch.tensor([item[0] for item in placed], dtype=torch.int64),
        centres=torch.tensor(np.array([item[3] for item in placed]).reshape(-1, 3), dtype=torch.float64),
        rotations=torch.tensor(np.array([item[2] for item in placed]).reshape(-1, 3, 3), dtype=torch.float64),
        half_sizes=torch.tensor(np.array([item[1] for item in placed]).reshape(-1, 3), dtype=torch.float64),
        first_face=torch.tensor(first_face, dtype=torch.int64),
    )
    return SyntheticScene(
        seed=int(seed),
        room=room,
        objects=objects,
        light=light / np.linalg.norm(light),
        atlas=build_atlas(textures, texel_sizes),
        path=path,
    )
