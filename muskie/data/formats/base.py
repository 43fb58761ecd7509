"""What a dataset adapter is: a named way to find the scenes under a dataset root and read one of them.

An adapter reads a dataset in the layout its authors ship (or a widely used preprocessed layout) and returns
``Scene`` / ``Frame`` records in the package convention (OpenCV axes, camera-to-world, ``K`` in pixels, z-depth
in world units, ``Scene.metric`` telling whether those units are metres). Pre-training needs images only, so
every adapter reads cameras and depth only when asked (``cameras=False`` / ``depth=False``) and still returns
the frames when a dataset lacks them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muskie.data.scene import Scene
from muskie.geometry.poses import RIGID_TOLERANCE, rigidity_error


class FormatError(ValueError):
    """A dataset root does not look like the format asked for; the message says what was expected."""


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset adapter.

    Attributes:
        name: the ``--format`` / ``data.sources[].format`` name.
        title: the dataset's name as its authors write it.
        find_scenes: ``root -> scene ids`` (strings, usually paths relative to the root), sorted; raises
            :class:`FormatError` naming what it expected when ``root`` does not look like the format.
        read_scene: ``(root, scene_id, cameras, depth) -> Scene``; frames in capture order; ``cameras`` /
            ``depth`` false: leave them out and do not read their files.
        window: the default window of consecutive frames a sample's views are drawn from (the paper's: 32;
            16 for HyperSim, 64 for DL3DV).
        object_centric: the scenes are captures around one object (CO3D, WildRGB-D): object zoom applies.
    """

    name: str
    title: str
    find_scenes: Callable[[Path], list[str]]
    read_scene: Callable[..., Scene]
    window: int = 32
    object_centric: bool = False


class PoseFilter:
    """Counts and drops frames whose pose is unusable (non-finite entries, or a rotation part that is not a
    rotation), so an adapter can skip them and warn once per scene with the count."""

    def __init__(self, where: str):
        self.where = where
        self.dropped = 0

    def usable(self, cam_to_world: np.ndarray | None) -> bool:
        """True for a finite rigid ``(4, 4)`` pose (``muskie.geometry.poses.rigidity_error`` at most
        ``RIGID_TOLERANCE``, the bound ``Frame`` enforces); counts the others."""
        if cam_to_world is None:
            return True
        pose = np.asarray(cam_to_world, dtype=np.float64)
        ok = pose.shape == (4, 4) and rigidity_error(pose) <= RIGID_TOLERANCE
        if not ok:
            self.dropped += 1
        return ok

    def warn(self) -> None:
        """Warn once if any frame was dropped."""
        if self.dropped:
            warnings.warn(
                f"{self.where}: skipped {self.dropped} frame(s) with a non-finite or non-rigid pose", stacklevel=3
            )
