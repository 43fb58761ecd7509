"""``Scene`` and ``Frame``: the records every scene source produces and every dataset consumes.

A scene is an ordered list of frames (the order is the capture order: view sampling takes windows of
consecutive frames). A frame knows where its image lives, its size and, when known, its camera and depth.
Cameras follow the package convention (see ``muskie.constants``): OpenCV axes, ``K`` in pixels with pixel
centres at integer coordinates, poses camera-to-world. Dataset adapters (``muskie.data.formats``) convert
their dataset's conventions into these records; what they cannot convert up front (depth stored as float16
bits or as distance along the ray, lens distortion) is described on the frame and applied when it is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muskie.geometry.distortion import LensDistortion
from muskie.geometry.poses import RIGID_TOLERANCE, rigidity_error


def _as_matrix(value, shape: tuple[int, int], name: str, where: str) -> np.ndarray | None:
    """Copy ``value`` to a float64 array of ``shape``; ``None`` stays ``None``."""
    if value is None:
        return None
    array = np.array(value, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{where}: {name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: {name} has non-finite entries")
    return array


@dataclass(frozen=True)
class Frame:
    """One view of a scene.

    Attributes:
        image_path: the image file.
        width, height: image size in pixels (positive ints).
        intrinsics: ``(3, 3)`` float64 pinhole ``K`` in pixels (pixel centres at integer coordinates,
            positive focal lengths), or ``None`` when the camera is unknown.
        cam_to_world: ``(4, 4)`` float64 camera-to-world pose, OpenCV axes (x right, y down, z forward), in
            the scene's world units, or ``None`` when unknown; rigid (``rigidity_error`` at most
            ``RIGID_TOLERANCE``: a scaled or sheared rotation part is refused).
        depth_path: a depth map file (z-depth along the optical axis), or ``None``.
        depth_scale: world units per stored depth unit (0.001 for 16-bit PNGs in millimetres and metric
            scenes); a stored 0 means "no depth".
        depth_encoding: how the depth file stores its values, a key of
            ``muskie.data.depth_codecs.DEPTH_ENCODINGS`` (``"auto"``: by the file's suffix).
        depth_along_ray: the stored values are distances from the camera centre along each pixel's ray
            (HyperSim), not z-depth; reading converts them with ``intrinsics``.
        mask_path: an object mask (any single-channel image, nonzero = object) for object-centric datasets,
            or ``None``.
        distortion: the lens distortion of the stored image, or ``None`` for a pinhole image. ``intrinsics``
            is then the pinhole part of the distorted camera; readers that need exact geometry undistort.
    """

    image_path: Path
    width: int
    height: int
    intrinsics: np.ndarray | None = None
    cam_to_world: np.ndarray | None = None
    depth_path: Path | None = None
    depth_scale: float = 1.0
    depth_encoding: str = "auto"
    depth_along_ray: bool = False
    mask_path: Path | None = None
    distortion: LensDistortion | None = None

    def __post_init__(self):
        # frozen dataclass: normalise fields through object.__setattr__
        where = f"frame {self.image_path}"
        object.__setattr__(self, "image_path", Path(self.image_path))
        for name in ("depth_path", "mask_path"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.depth_along_ray and self.depth_path is not None and self.intrinsics is None:
            raise ValueError(f"{where}: depth along the ray needs intrinsics to become z-depth")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value <= 0:
                raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "intrinsics", _as_matrix(self.intrinsics, (3, 3), "intrinsics", where))
        # a zero or negative focal length projects nothing onto the image: a corrupt camera, not a camera
        if self.intrinsics is not None and not (self.intrinsics[0, 0] > 0 and self.intrinsics[1, 1] > 0):
            raise ValueError(
                f"{where}: intrinsics must have positive focal lengths, got fx "
                f"{self.intrinsics[0, 0]!r} and fy {self.intrinsics[1, 1]!r}"
            )
        object.__setattr__(self, "cam_to_world", _as_matrix(self.cam_to_world, (4, 4), "cam_to_world", where))
        # every reader builds frames, so this is the one rigidity check of poses read from files
        if self.cam_to_world is not None and not rigidity_error(self.cam_to_world) <= RIGID_TOLERANCE:
            raise ValueError(
                f"{where}: cam_to_world is not a rigid motion (its rotation part is scaled, sheared "
                f"or mirrored, or its last row is not 0 0 0 1: deviation "
                f"{rigidity_error(self.cam_to_world):.3g} > {RIGID_TOLERANCE:g})"
            )
        if not (np.isfinite(self.depth_scale) and self.depth_scale > 0):
            raise ValueError(f"{where}: depth_scale must be positive, got {self.depth_scale!r}")

    @property
    def has_camera(self) -> bool:
        """True when both intrinsics and pose are known."""
        return self.intrinsics is not None and self.cam_to_world is not None


@dataclass
class Scene:
    """An ordered list of frames of one scene.

    Attributes:
        name: a short identifier (usually the scene folder's name).
        root: the scene folder.
        frames: the frames in capture order.
        metric: world units are metres (poses and depth); False where the dataset's scale is arbitrary (SfM
            reconstructions, normalised captures) or unknown.
        neighbours: for datasets that list each frame's best partner views (BlendedMVS ``pair.txt``,
            MegaDepth overlaps): frame index -> indices of its neighbours, best first; empty otherwise.
    """

    name: str
    root: Path
    frames: list[Frame] = field(default_factory=list)
    metric: bool = False
    neighbours: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        self.frames = list(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def has_cameras(self) -> bool:
        """True when every frame has intrinsics and a pose (and there is at least one frame)."""
        return bool(self.frames) and all(frame.has_camera for frame in self.frames)

    @property
    def has_depth(self) -> bool:
        """True when every frame has a depth map (and there is at least one frame)."""
        return bool(self.frames) and all(frame.depth_path is not None for frame in self.frames)
