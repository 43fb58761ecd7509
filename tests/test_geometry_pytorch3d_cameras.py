"""PyTorch3D NDC cameras -> OpenCV: known answers from PyTorch3D's documented conventions, and the same world
point landing on the same pixel through a PyTorch3D projection written here from those conventions."""

import numpy as np
import pytest
import torch

from muskie.geometry import project_points
from muskie.geometry.pytorch3d_cameras import opencv_from_pytorch3d


def pytorch3d_pixel(point, rotation, translation, focal, centre, height, width, intrinsics_format):
    """Where PyTorch3D puts a world point, from its documentation: view = X R + T (row vector), +x left and
    +y up; NDC = f * view_xy / z + p; NDC +-1 (shorter side, or each side for ndc_norm_image_bounds) at the
    outer pixel edges with +x at the left, +y at the top. Returns (u, v) with pixel centres at integers and z."""
    view = np.asarray(point) @ rotation + translation
    ndc = np.asarray(focal) * view[:2] / view[2] + np.asarray(centre)
    if intrinsics_format == "ndc_isotropic":
        half_extent = np.array([width, height]) / min(width, height)  # NDC of the left / top edge
    else:
        half_extent = np.ones(2)
    pixels_per_ndc = np.array([width, height]) / (2 * half_extent)
    distance_from_left_top_edges = (half_extent - ndc) * pixels_per_ndc
    return distance_from_left_top_edges - 0.5, view[2]


def random_rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


@pytest.mark.parametrize(
    "intrinsics_format, expected",
    [
        # 200 x 100 image: isotropic scale min/2 = 50 px per NDC unit; per-axis scales 100 and 50
        ("ndc_isotropic", [[100.0, 0, 100 - 0.5 - 50 * 0.1], [0, 150.0, 50 - 0.5 + 50 * 0.2], [0, 0, 1]]),
        ("ndc_norm_image_bounds", [[200.0, 0, 100 - 0.5 - 100 * 0.1], [0, 150.0, 50 - 0.5 + 50 * 0.2], [0, 0, 1]]),
    ],
)
def test_intrinsics_in_pixels(intrinsics_format, expected):
    K, _ = opencv_from_pytorch3d(np.eye(3), np.zeros(3), (2.0, 3.0), (0.1, -0.2), 100, 200, intrinsics_format)
    np.testing.assert_allclose(K, expected, atol=1e-12)


def test_the_ndc_corner_is_the_corner_of_the_top_left_pixel():
    # identity camera, focal 1: the view point (+1, +1, 1) has NDC (+1, +1), the top-left image corner,
    # which is half a pixel up and left of the first pixel centre
    K, cam_to_world = opencv_from_pytorch3d(np.eye(3), np.zeros(3), (1.0, 1.0), (0.0, 0.0), 64, 64)
    uv, z = project_points(
        torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64), torch.from_numpy(K), torch.from_numpy(cam_to_world)
    )
    np.testing.assert_allclose(uv.numpy(), [[-0.5, -0.5]], atol=1e-12)
    assert z.item() == pytest.approx(1.0)


@pytest.mark.parametrize("intrinsics_format", ["ndc_isotropic", "ndc_norm_image_bounds"])
def test_a_world_point_lands_on_the_same_pixel(intrinsics_format):
    rng = np.random.default_rng(0)
    height, width = 90, 160
    for _ in range(5):
        rotation, translation = random_rotation(rng), rng.normal(size=3)
        focal, centre = rng.uniform(1.0, 3.0, size=2), rng.uniform(-0.2, 0.2, size=2)
        # a point in front of the camera: view coordinates with z > 0, back to the world
        view = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(2, 5)])
        point = (view - translation) @ rotation.T
        expected_uv, expected_z = pytorch3d_pixel(
            point, rotation, translation, focal, centre, height, width, intrinsics_format
        )
        K, cam_to_world = opencv_from_pytorch3d(rotation, translation, focal, centre, height, width, intrinsics_format)
        uv, z = project_points(torch.from_numpy(point)[None], torch.from_numpy(K), torch.from_numpy(cam_to_world))
        np.testing.assert_allclose(uv.numpy()[0], expected_uv, atol=1e-9)
        assert z.item() == pytest.approx(expected_z, abs=1e-12)
        np.testing.assert_allclose(cam_to_world[:3, :3].T @ cam_to_world[:3, :3], np.eye(3), atol=1e-12)
        assert np.linalg.det(cam_to_world[:3, :3]) == pytest.approx(1.0)


def test_unknown_format_and_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="unknown PyTorch3D intrinsics format 'screen'"):
        opencv_from_pytorch3d(np.eye(3), np.zeros(3), (1, 1), (0, 0), 10, 10, "screen")
    with pytest.raises(ValueError, match=r"R must have shape \(3, 3\)"):
        opencv_from_pytorch3d(np.eye(4), np.zeros(3), (1, 1), (0, 0), 10, 10)
