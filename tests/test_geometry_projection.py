"""Projection matrices as pinhole cameras: the RQ factorisation and OpenGL-style matrices, on cameras with a
known answer."""

import numpy as np
import pytest

from muskie.geometry.projection import factor_projection, pinhole_from_opengl_projection


def rotation_about_x(degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def opengl_matrix(intrinsics: np.ndarray, rotation: np.ndarray, width: int, height: int) -> np.ndarray:
    """The OpenGL projection (rows x, y, depth, w) of the pinhole ``K R`` (OpenCV axes) for a W x H image,
    built the way round a renderer does: NDC from pixel coordinates, OpenGL axes from OpenCV ones."""
    ndc_from_pixels = np.linalg.inv(
        np.array([[width / 2, 0, (width - 1) / 2], [0, -height / 2, (height - 1) / 2], [0, 0, 1]])
    )
    rows = ndc_from_pixels @ intrinsics @ rotation @ np.diag([1.0, -1.0, -1.0])
    rows = rows / -rows[2, 2]  # the usual scale: w = -z for a point on the axis
    matrix = np.zeros((4, 4))
    matrix[[0, 1, 3], :3] = rows
    matrix[2] = [0, 0, -1.002, -2.002]  # a depth row, which carries no camera information
    return matrix


def test_factoring_recovers_intrinsics_and_rotation():
    k = np.array([[500.0, 2.0, 310.0], [0, 480.0, 250.0], [0, 0, 1]])
    r = rotation_about_x(3.0) @ np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    found_k, found_r = factor_projection(7.5 * k @ r)
    np.testing.assert_allclose(found_k, k, atol=1e-9)
    np.testing.assert_allclose(found_r, r, atol=1e-12)


def test_a_plain_perspective_matrix_is_its_pinhole_with_pixel_centres_at_integers():
    # fovy 90 degrees on a 200 x 100 image, square pixels: f = 50 px, centre between the middle pixels
    fovy, width, height = np.pi / 2, 200, 100
    f = 1 / np.tan(fovy / 2)
    matrix = np.array([[f * height / width, 0, 0, 0], [0, f, 0, 0], [0, 0, -1.002, -2.002], [0, 0, -1, 0]])
    k, r = pinhole_from_opengl_projection(matrix, width, height)
    np.testing.assert_allclose(k, [[50, 0, 99.5], [0, 50, 49.5], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(r, np.eye(3), atol=1e-15)


def test_a_tilted_image_plane_becomes_a_rotation():
    k = np.array([[880.0, 0.0, 570.0], [0, 880.0, 460.0], [0, 0, 1]])
    r = rotation_about_x(0.5)
    found_k, found_r = pinhole_from_opengl_projection(opengl_matrix(k, r, 1024, 768), 1024, 768)
    np.testing.assert_allclose(found_k, k, atol=1e-9)
    np.testing.assert_allclose(found_r, r, atol=1e-12)


def test_matrices_that_are_not_cameras_are_refused():
    orthographic = np.diag([0.1, 0.1, -0.01, 1.0])
    with pytest.raises(ValueError, match="offset column"):
        pinhole_from_opengl_projection(orthographic, 64, 48)
    mirrored = np.array([[-1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, -2], [0, 0, -1, 0]])
    with pytest.raises(ValueError, match="singular or mirrored"):
        pinhole_from_opengl_projection(mirrored, 64, 48)
