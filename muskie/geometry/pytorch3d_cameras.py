"""PyTorch3D NDC cameras (CO3D's annotations) -> the package's OpenCV camera (``K`` in pixels, camera-to-world).

PyTorch3D's conventions, from its camera documentation:

- world to view is right-multiplied: a world point (row vector) ``X`` is at ``X R + T`` in the view frame,
  i.e. ``R^T X + T`` for a column vector;
- view axes are +x left, +y up, +z forward: OpenCV's with x and y negated;
- a view point projects to NDC as ``x_ndc = f_x x / z + p_x`` (the same for y);
- NDC runs between the outer edges of the outer pixels (``align_corners=False``), +x_ndc at the left image
  edge and +y_ndc at the top edge. ``ndc_isotropic`` (PyTorch3D 0.5+): one scale for both axes, the shorter
  image side spanning ``[-1, 1]``; ``ndc_norm_image_bounds`` (legacy, CO3D's default): each axis normalised
  by its own side, the whole image spanning ``[-1, 1] x [-1, 1]``.

With ``s_x``, ``s_y`` the pixels per NDC unit of each axis, the column of a point is
``u = W / 2 - 1/2 - s_x x_ndc``: ``W / 2 - s_x x_ndc`` is its distance from the left edge, and the package puts
pixel centres at integers, half a pixel left of that edge distance.
"""

from __future__ import annotations

import numpy as np

INTRINSICS_FORMATS = ("ndc_isotropic", "ndc_norm_image_bounds")
# PyTorch3D view axes -> OpenCV camera axes: negate x and y
_VIEW_TO_OPENCV = np.diag([-1.0, -1.0, 1.0])


def ndc_scales(height: int, width: int, intrinsics_format: str) -> tuple[float, float]:
    """Pixels per NDC unit ``(s_x, s_y)`` of an ``height x width`` image in ``intrinsics_format``
    (one of :data:`INTRINSICS_FORMATS`)."""
    if intrinsics_format == "ndc_isotropic":
        scale = min(height, width) / 2.0
        return scale, scale
    if intrinsics_format == "ndc_norm_image_bounds":
        return width / 2.0, height / 2.0
    raise ValueError(
        f"unknown PyTorch3D intrinsics format {intrinsics_format!r}; known: {', '.join(INTRINSICS_FORMATS)}"
    )


def opencv_from_pytorch3d(
    rotation,
    translation,
    focal_length,
    principal_point,
    height: int,
    width: int,
    intrinsics_format: str = "ndc_isotropic",
) -> tuple[np.ndarray, np.ndarray]:
    """The OpenCV camera of a PyTorch3D ``PerspectiveCameras`` camera defined in NDC.

    Args:
        rotation: ``(3, 3)`` PyTorch3D ``R`` (right-multiplied world-to-view rotation).
        translation: ``(3,)`` PyTorch3D ``T``.
        focal_length, principal_point: ``(2,)`` each, in NDC units of ``intrinsics_format``.
        height, width: the image size in pixels the NDC values refer to.
        intrinsics_format: ``ndc_isotropic`` or ``ndc_norm_image_bounds`` (module docstring).

    Returns:
        ``K (3, 3)`` float64 in pixels (pixel centres at integers) and ``cam_to_world (4, 4)`` float64, OpenCV
        axes, in the annotation's world units. Exact: the same world point lands on the same pixel.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    focal = np.asarray(focal_length, dtype=np.float64)
    centre = np.asarray(principal_point, dtype=np.float64)
    for name, value, shape in (
        ("R", rotation, (3, 3)),
        ("T", translation, (3,)),
        ("focal_length", focal, (2,)),
        ("principal_point", centre, (2,)),
    ):
        if value.shape != shape:
            raise ValueError(f"PyTorch3D camera: {name} must have shape {shape}, got {value.shape}")
    scale_x, scale_y = ndc_scales(height, width, intrinsics_format)
    intrinsics = np.array(
        [
            [scale_x * focal[0], 0.0, width / 2.0 - 0.5 - scale_x * centre[0]],
            [0.0, scale_y * focal[1], height / 2.0 - 0.5 - scale_y * centre[1]],
            [0.0, 0.0, 1.0],
        ]
    )
    # OpenCV world-to-camera: x_cv = F (R^T X + T), so its rotation is F R^T and its inverse's is R F
    cam_to_world = np.eye(4)
    cam_to_world[:3, :3] = rotation @ _VIEW_TO_OPENCV
    cam_to_world[:3, 3] = -rotation @ translation
    return intrinsics, cam_to_world
