"""Pinhole cameras from projection matrices: a 3x3 projection factored into intrinsics and a rotation, and
the OpenGL-style 4x4 projection matrices renderers store (HyperSim's ``M_proj``) turned into that form.

A 3x3 projection ``P`` maps camera-frame points (OpenCV axes) to homogeneous pixels: ``(u, v, 1) ~ P X``. Every
such ``P`` with positive determinant is ``P = s K R`` with ``K`` upper triangular (positive focal lengths, a
possible skew, ``K[2, 2] = 1``), ``R`` a rotation and ``s > 0``: the same central projection as a pinhole
camera with intrinsics ``K`` whose axes are turned by ``R``. So off-centre, sheared or tilted image planes
(tilt-shift lenses) are exact pinholes once the camera's pose absorbs ``R``.
"""

from __future__ import annotations

import numpy as np

# OpenCV camera axes -> OpenGL camera axes (y up, z backwards), and back: its own inverse
_CV_TO_GL = np.diag([1.0, -1.0, -1.0])


def factor_projection(projection: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P = s K R`` (RQ decomposition) of a ``(3, 3)`` projection with positive determinant.

    Returns:
        ``(K, R)``: ``(3, 3)`` float64 upper-triangular intrinsics with positive diagonal and ``K[2, 2] = 1``,
        and the ``(3, 3)`` rotation (det +1) from the given camera frame to the pinhole's frame.

    Raises:
        ValueError: ``P`` is singular or mirrors the image (non-positive determinant).
    """
    projection = np.asarray(projection, dtype=np.float64)
    if projection.shape != (3, 3) or not np.all(np.isfinite(projection)):
        raise ValueError(f"a projection must be a finite (3, 3) matrix, got shape {projection.shape}")
    if not np.linalg.det(projection) > 0:
        raise ValueError(
            f"projection {projection.tolist()} is singular or mirrored (determinant "
            f"{np.linalg.det(projection):.3g}); it is not a camera"
        )
    # RQ from QR of the row-reversed transpose
    reverse = np.eye(3)[::-1]
    q, r = np.linalg.qr((reverse @ projection).T)
    upper, rotation = reverse @ r.T @ reverse, reverse @ q.T
    signs = np.diag(np.sign(np.diag(upper)))
    upper, rotation = upper @ signs, signs @ rotation
    # det(P) > 0 and a positive diagonal make det(R) = +1
    return upper / upper[2, 2], rotation


def pinhole_from_opengl_projection(matrix: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics and rotation of the pinhole camera an OpenGL-style projection matrix describes.

    Args:
        matrix: ``(4, 4)`` projection from OpenGL camera coordinates (x right, y up, z backwards) to clip
            coordinates, whose normalised device coordinates span the image from edge to edge (x from the left
            edge at -1 to the right edge at +1, y from the bottom edge at -1 to the top at +1). Its depth row
            (the third) is ignored; rows 1, 2 and 4 must not depend on the homogeneous coordinate (no offset).
        width, height: the image size in pixels.

    Returns:
        ``(K, R)``: ``(3, 3)`` float64 intrinsics in pixels (pixel centres at integers; skew and any principal
        point allowed) and the rotation ``R`` (3, 3) such that pixels are ``K R X`` for points ``X`` in the
        camera's OpenCV axes (x right, y down, z forward). ``R`` is the identity for a plain perspective
        matrix (last row ``0 0 -1 0``); a camera-to-world pose becomes the pinhole's as ``pose[:3, :3] @ R.T``.

    Raises:
        ValueError: the matrix has an offset column (an orthographic or shifted projection) or is not a
            camera (see :func:`factor_projection`).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"an OpenGL projection must be a finite (4, 4) matrix, got shape {matrix.shape}")
    rows = matrix[[0, 1, 3]]
    if np.any(rows[:, 3] != 0):
        raise ValueError(
            f"projection {matrix.tolist()} has an offset column (entries 03, 13, 33 must be 0): "
            "not a central projection"
        )
    # NDC -> pixels with centres at integers: u = (x + 1) W / 2 - 1/2, v = (1 - y) H / 2 - 1/2
    screen = np.array([[width / 2, 0.0, (width - 1) / 2], [0.0, -height / 2, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return factor_projection(screen @ rows[:, :3] @ _CV_TO_GL)
