"""Lens distortion: the forward models against hand-computed values and a scalar float64 reference written from
OpenCV's documented formulas, and the undistortion map's geometry."""

import math

import numpy as np
import pytest

from muskie.geometry.distortion import LensDistortion, distort_normalized, undistortion_map

K = np.array([[80.0, 0.0, 31.5], [0.0, 78.0, 23.25], [0.0, 0.0, 1.0]])


def reference_distort(x: float, y: float, model: str, p: tuple) -> tuple[float, float]:
    """One point, plain Python floats: OpenCV's pinhole (k1, k2, p1, p2[, k3, k4, k5, k6]) and fisheye formulas."""
    if model == "OPENCV_FISHEYE":
        r = math.hypot(x, y)
        theta = math.atan(r)
        theta_d = theta * (1 + p[0] * theta**2 + p[1] * theta**4 + p[2] * theta**6 + p[3] * theta**8)
        return (x * theta_d / r, y * theta_d / r) if r > 0 else (x, y)
    k1, k2, p1, p2 = p[:4]
    k3, k4, k5, k6 = p[4:] if model == "FULL_OPENCV" else (0.0, 0.0, 0.0, 0.0)
    r2 = x * x + y * y
    radial = (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3) / (1 + k4 * r2 + k5 * r2**2 + k6 * r2**3)
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x), y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


def test_opencv_point_matches_hand_computation():
    # x = 0.2, y = -0.1: r2 = 0.05, radial = 1 + 0.1 * 0.05 + 0.01 * 0.0025 = 1.005025
    # x_d = 0.2 * 1.005025 + 2 * 0.001 * (-0.02) + (-0.002) * (0.05 + 0.08) = 0.201005 - 0.00004 - 0.00026
    # y_d = -0.1 * 1.005025 + 0.001 * (0.05 + 0.02) + 2 * (-0.002) * (-0.02) = -0.1005025 + 0.00007 + 0.00008
    distortion = LensDistortion("OPENCV", (0.1, 0.01, 0.001, -0.002))
    x_d, y_d = distort_normalized(np.array(0.2), np.array(-0.1), distortion)
    assert x_d == pytest.approx(0.200705, abs=1e-15)
    assert y_d == pytest.approx(-0.1003525, abs=1e-15)


def test_fisheye_point_matches_hand_computation():
    # a ray 45 degrees off the axis: x = 1, theta = pi / 4 = 0.78539816340, theta^2 = 0.61685027507,
    # theta_d = 0.78539816340 * (1 + 0.1 * 0.61685027507) = 0.78539816340 * 1.06168502751 = 0.83384547071
    distortion = LensDistortion("OPENCV_FISHEYE", (0.1, 0.0, 0.0, 0.0))
    x_d, y_d = distort_normalized(np.array(1.0), np.array(0.0), distortion)
    assert x_d == pytest.approx(0.8338454707, abs=1e-10) and y_d == 0.0


def test_equidistant_fisheye_images_a_ray_at_focal_length_times_its_angle():
    # zero coefficients: the equidistant projection, radius = f * theta (not f * tan(theta) as a pinhole)
    distortion = LensDistortion("OPENCV_FISHEYE", (0.0, 0.0, 0.0, 0.0))
    for degrees in (10.0, 30.0, 60.0, 85.0):
        theta = math.radians(degrees)
        x_d, y_d = distort_normalized(np.array(math.tan(theta) * 0.6), np.array(math.tan(theta) * 0.8), distortion)
        assert math.hypot(x_d, y_d) == pytest.approx(theta, rel=1e-12)
        assert y_d / x_d == pytest.approx(0.8 / 0.6, rel=1e-12)  # the direction around the axis is kept


@pytest.mark.parametrize(
    "model, params",
    [
        ("OPENCV", (-0.28, 0.07, 0.0011, -0.0007)),
        ("FULL_OPENCV", (-0.28, 0.07, 0.0011, -0.0007, 0.01, 0.02, -0.01, 0.005)),
        ("OPENCV_FISHEYE", (0.03, -0.01, 0.002, -0.0005)),
    ],
)
def test_forward_model_matches_scalar_reference(model, params):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-0.6, 0.6, size=(2, 50))
    x_d, y_d = distort_normalized(x, y, LensDistortion(model, params))
    expected = np.array([reference_distort(a, b, model, params) for a, b in zip(x, y, strict=True)])
    np.testing.assert_allclose(np.stack([x_d, y_d], -1), expected, rtol=0, atol=1e-14)


def test_zero_coefficients_give_the_identity_map():
    pixels = undistortion_map(K, LensDistortion("OPENCV", (0.0, 0.0, 0.0, 0.0)), K, (48, 64))
    v, u = np.mgrid[0:48, 0:64]
    np.testing.assert_allclose(pixels, np.stack([u, v], -1), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "model, params",
    [
        ("OPENCV", (-0.28, 0.07, 0.0011, -0.0007)),
        ("OPENCV_FISHEYE", (0.03, -0.01, 0.002, -0.0005)),
    ],
)
def test_map_sends_each_pinhole_pixel_to_where_the_lens_images_its_3d_point(model, params):
    """A 3D point seen at pixel (u, v) of the pinhole camera K_new is imaged by the distorted camera (K, lens) at
    the pixel the map holds for (u, v)."""
    k_new = np.array([[70.0, 0.0, 30.0], [0.0, 70.0, 25.0], [0.0, 0.0, 1.0]])
    pixels = undistortion_map(K, LensDistortion(model, params), k_new, (48, 64))
    for u, v in [(0, 0), (63, 47), (30, 25), (12, 40), (50, 5)]:
        point = np.array([(u - 30.0) / 70.0, (v - 25.0) / 70.0, 1.0]) * 3.7  # any depth along the ray
        x_d, y_d = reference_distort(point[0] / point[2], point[1] / point[2], model, params)
        np.testing.assert_allclose(pixels[v, u], [K[0, 0] * x_d + K[0, 2], K[1, 1] * y_d + K[1, 2]], atol=1e-12)


def test_bad_distortions_are_refused():
    with pytest.raises(ValueError, match="takes 4 parameters"):
        LensDistortion("OPENCV", (0.1,))
    with pytest.raises(ValueError, match="unknown distortion model"):
        LensDistortion("KANNALA", (0.1,))
    with pytest.raises(ValueError, match="non-finite"):
        LensDistortion("RADIAL", (0.1, float("nan")))
    assert LensDistortion("OPENCV", (0.0, 0.0, 0.0, 0.0)).is_identity
    assert not LensDistortion("OPENCV_FISHEYE", (0.0, 0.0, 0.0, 0.0)).is_identity
