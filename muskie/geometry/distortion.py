"""Lens distortion: the models datasets ship (COLMAP's names), the forward distortion of normalised image
coordinates, and the sampling map that undistorts an image into a pinhole camera.

Normalised coordinates are ``(x, y) = ((u - cx) / fx, (v - cy) / fy)`` of the pinhole part of a camera. A
distortion maps the ideal (pinhole) normalised point to the one the lens images it at; undistorting an image
into a pinhole camera ``K_new`` samples, for every pixel of the new image, the distorted image at the forward
distortion of that pixel's ray, so no iterative inversion is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# model -> parameter names, in COLMAP's order (after fx, fy, cx, cy)
DISTORTION_PARAMS: dict[str, tuple[str, ...]] = {
    "SIMPLE_RADIAL": ("k1",),
    "RADIAL": ("k1", "k2"),
    "OPENCV": ("k1", "k2", "p1", "p2"),
    "FULL_OPENCV": ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6"),
    "OPENCV_FISHEYE": ("k1", "k2", "k3", "k4"),
}


@dataclass(frozen=True)
class LensDistortion:
    """A lens distortion model and its coefficients (the pinhole part lives in the frame's ``K``).

    Attributes:
        model: a key of :data:`DISTORTION_PARAMS` (``OPENCV``: radial k1, k2 + tangential p1, p2;
            ``OPENCV_FISHEYE``: the equidistant model with k1..k4 on the angle).
        params: the coefficients in :data:`DISTORTION_PARAMS` order.
    """

    model: str
    params: tuple[float, ...]

    def __post_init__(self):
        if self.model not in DISTORTION_PARAMS:
            raise ValueError(f"unknown distortion model {self.model!r}; known: {', '.join(DISTORTION_PARAMS)}")
        params = tuple(float(p) for p in self.params)
        if len(params) != len(DISTORTION_PARAMS[self.model]):
            raise ValueError(
                f"distortion {self.model} takes {len(DISTORTION_PARAMS[self.model])} parameters "
                f"({', '.join(DISTORTION_PARAMS[self.model])}), got {len(params)}"
            )
        if not all(np.isfinite(params)):
            raise ValueError(f"distortion {self.model} has non-finite parameters {params}")
        object.__setattr__(self, "params", params)

    @property
    def is_identity(self) -> bool:
        """All coefficients are zero: the camera is a pinhole (for ``OPENCV_FISHEYE`` it is still the
        equidistant projection, never a pinhole)."""
        return self.model != "OPENCV_FISHEYE" and not any(self.params)

    def to_dict(self) -> dict:
        return {"model": self.model, "params": list(self.params)}

    @classmethod
    def from_dict(cls, record: dict) -> LensDistortion:
        return cls(record["model"], tuple(record["params"]))


def distort_normalized(x: np.ndarray, y: np.ndarray, distortion: LensDistortion) -> tuple[np.ndarray, np.ndarray]:
    """Forward distortion of ideal normalised coordinates (arrays of any one shape, float64).

    Returns the distorted normalised coordinates ``(x_d, y_d)`` (COLMAP's and OpenCV's formulas). For
    ``OPENCV_FISHEYE`` points at or behind 90 degrees from the axis have no image and come back as NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    p = distortion.params
    if distortion.model == "OPENCV_FISHEYE":
        r = np.hypot(x, y)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1 + p[0] * t2 + p[1] * t2**2 + p[2] * t2**3 + p[3] * t2**4)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(r > 1e-12, theta_d / r, 1.0)
        return x * scale, y * scale
    r2 = x * x + y * y
    if distortion.model == "SIMPLE_RADIAL":
        radial = 1 + p[0] * r2
        return x * radial, y * radial
    if distortion.model == "RADIAL":
        radial = 1 + p[0] * r2 + p[1] * r2 * r2
        return x * radial, y * radial
    k1, k2, p1, p2 = p[:4]
    radial = 1 + k1 * r2 + k2 * r2 * r2
    if distortion.model == "FULL_OPENCV":
        k3, k4, k5, k6 = p[4:]
        radial = (radial + k3 * r2**3) / (1 + k4 * r2 + k5 * r2 * r2 + k6 * r2**3)
    xy = x * y
    x_d = x * radial + 2 * p1 * xy + p2 * (r2 + 2 * x * x)
    y_d = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * xy
    return x_d, y_d


def undistortion_map(
    intrinsics: np.ndarray, distortion: LensDistortion, new_intrinsics: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Where each pixel of the undistorted image lies in the distorted one.

    Args:
        intrinsics: ``(3, 3)`` pinhole part of the distorted camera (pixels).
        distortion: its lens distortion.
        new_intrinsics: ``(3, 3)`` ``K`` of the undistorted pinhole image (pixels).
        size: ``(H, W)`` of the undistorted image.

    Returns:
        ``(H, W, 2)`` float64 pixel coordinates ``(u, v)`` in the distorted image (pixel centres at integer
        coordinates); NaN where the ray has no image.
    """
    height, width = size
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    new_intrinsics = np.asarray(new_intrinsics, dtype=np.float64)
    x = (u - new_intrinsics[0, 2]) / new_intrinsics[0, 0]
    y = (v - new_intrinsics[1, 2]) / new_intrinsics[1, 1]
    x_d, y_d = distort_normalized(x, y, distortion)
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    return np.stack([intrinsics[0, 0] * x_d + intrinsics[0, 2], intrinsics[1, 1] * y_d + intrinsics[1, 2]], axis=-1)
