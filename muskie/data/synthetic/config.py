"""``SyntheticConfig``: everything that decides what a synthetic scene looks like, plus the split seeds."""

from __future__ import annotations

from dataclasses import dataclass

# The camera path kinds of ``muskie.data.synthetic.camera_paths``.
PATH_KINDS = ("rig", "orbit", "walk", "forward")
# How ``muskie.data.synthetic.writer`` stores depth maps: 16-bit millimetre PNG or float32 metre .npy.
DEPTH_FORMATS = ("png", "npy")

# Disjoint seed ranges: scene i of a split is generated from seed ``start + i``.
SPLIT_RANGES = {
    "train": range(0, 10_000_000),
    "val": range(10_000_000, 10_100_000),
    "test": range(20_000_000, 20_100_000),
}


def split_seeds(split: str) -> range:
    """The seeds of a split (``train``, ``val`` or ``test``); the ranges are disjoint."""
    if split not in SPLIT_RANGES:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_RANGES)}")
    return SPLIT_RANGES[split]


@dataclass(frozen=True)
class SyntheticConfig:
    """How synthetic scenes are generated. The defaults are the pre-training recipe of brief section 8.

    Attributes:
        camera_path: camera path kind, one of ``rig`` (default), ``orbit``, ``walk``, ``forward``.
        num_frames: poses per scene: the window views are drawn from.
        overlap: in (0, 1); larger puts neighbouring views closer (see ``camera_paths``).
        num_objects: inclusive range of objects per scene (``forward`` streets get twice as many).
        fov_degrees: range of the per-scene field of view across the larger image side.
        texels_per_metre: texture resolution on faces, up to ``max_texels`` texels per face.
        max_texels: texel budget of one face (largest faces are scaled down to it, keeping aspect).
        noise_fraction: share of faces textured with procedural noise instead of a photo.
        principal_shift: each view's principal point moves by up to this fraction of the image's width
            and height (uniform, independently per view), so that content moves relative to the patch grid
            between views even where the cameras barely move; 0 keeps it centred.
        zoom: range of a per-view focal-length factor (log-uniform, independently per view); ``(1, 1)``
            keeps the scene's field of view. Both are applied to the intrinsics before rendering, so the
            cameras stay exact.
    """

    camera_path: str = "rig"
    num_frames: int = 32
    overlap: float = 0.7
    num_objects: tuple[int, int] = (4, 10)
    fov_degrees: tuple[float, float] = (55.0, 75.0)
    texels_per_metre: float = 64.0
    max_texels: int = 256 * 256
    noise_fraction: float = 0.2
    principal_shift: float = 0.0
    zoom: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self):
        if self.camera_path not in PATH_KINDS:
            raise ValueError(f"unknown camera path {self.camera_path!r}; expected one of {', '.join(PATH_KINDS)}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be positive, got {self.num_frames}")
        if not 0.0 < self.overlap < 1.0:
            raise ValueError(f"overlap must be in (0, 1), got {self.overlap}")
        if not 0 <= self.num_objects[0] <= self.num_objects[1]:
            raise ValueError(f"num_objects must be a range (min, max) with 0 <= min <= max, got {self.num_objects}")
        if not 1.0 <= self.fov_degrees[0] <= self.fov_degrees[1] < 170.0:
            raise ValueError(f"fov_degrees must be a range within [1, 170), got {self.fov_degrees}")
        if self.texels_per_metre <= 0 or self.max_texels < 16:
            raise ValueError("texels_per_metre must be positive and max_texels at least 16")
        if not 0.0 <= self.noise_fraction <= 1.0:
            raise ValueError(f"noise_fraction must be in [0, 1], got {self.noise_fraction}")
        if not 0.0 <= self.principal_shift <= 0.5:
            raise ValueError(f"principal_shift must be in [0, 0.5], got {self.principal_shift}")
        if not 0.0 < self.zoom[0] <= self.zoom[1]:
            raise ValueError(f"zoom must be a range (min, max) with 0 < min <= max, got {self.zoom}")

    @property
    def jitters_views(self) -> bool:
        return self.principal_shift > 0 or self.zoom != (1.0, 1.0)
