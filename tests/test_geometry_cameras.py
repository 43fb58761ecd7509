import numpy as np
import pytest
import torch
from fixtures import random_pose

from muskie.geometry import (
    camera_rays,
    intrinsics_from_fov,
    invert_pose,
    lift_pixels,
    look_at,
    nearest_pixel,
    pixel_grid,
    pixel_rays,
    project_points,
    unproject,
    unproject_depth,
)


def test_unproject_then_project_returns_the_pixels_and_depths():
    g = torch.Generator().manual_seed(0)
    pose = torch.stack([random_pose(g) for _ in range(2)])
    K = torch.tensor([[30.0, 0, 7.5], [0, 32.0, 5.0], [0, 0, 1]], dtype=torch.float64).expand(2, 3, 3)
    depth = torch.rand(2, 6, 8, generator=g, dtype=torch.float64) * 5 + 0.5
    points = unproject_depth(depth, K, pose)
    assert points.shape == (2, 6, 8, 3)
    uv, z = project_points(points.reshape(2, -1, 3), K, pose)
    torch.testing.assert_close(z, depth.reshape(2, -1), rtol=0, atol=1e-12)
    torch.testing.assert_close(
        uv, pixel_grid(6, 8, dtype=torch.float64).reshape(1, -1, 2).expand(2, -1, -1), rtol=0, atol=1e-10
    )


def test_unproject_matches_plain_pinhole_formula():
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, 3] = torch.tensor([1.0, 2.0, 3.0])
    K = torch.tensor([[10.0, 0, 2.0], [0, 20.0, 1.0], [0, 0, 1]], dtype=torch.float64)
    depth = torch.full((3, 5), 2.0, dtype=torch.float64)
    point = unproject_depth(depth, K, pose)[2, 4]  # row 2, column 4
    expected = torch.tensor([(4 - 2.0) / 10.0 * 2 + 1, (2 - 1.0) / 20.0 * 2 + 2, 2.0 + 3])
    torch.testing.assert_close(point, expected.double())


def test_camera_rays_have_unit_camera_z():
    g = torch.Generator().manual_seed(1)
    pose = random_pose(g)
    K = intrinsics_from_fov(60.0, 4, 6, dtype=torch.float64)
    origin, directions = camera_rays(K, pose, 4, 6)
    cam_dirs = directions @ pose[:3, :3]  # world -> camera rotation is R^T: d_cam = R^T d
    torch.testing.assert_close(cam_dirs[..., 2], torch.ones(4, 6, dtype=torch.float64))
    torch.testing.assert_close(origin, pose[:3, 3])


def test_float32_inputs_give_float32_outputs():
    depth = torch.ones(1, 2, 3, dtype=torch.float32)
    K = intrinsics_from_fov(torch.tensor([50.0]), 2, 3)
    pose = torch.eye(4).expand(1, 4, 4)
    assert unproject_depth(depth, K, pose).dtype == torch.float32
    uv, z = project_points(torch.ones(1, 5, 3), K, pose)
    assert uv.dtype == torch.float32 and uv.shape == (1, 5, 2) and z.shape == (1, 5)


def test_intrinsics_from_fov_spans_the_larger_side():
    K = intrinsics_from_fov(90.0, 20, 40, dtype=torch.float64)
    assert K[0, 0].item() == pytest.approx(20.0)  # half width / tan(45 deg)
    assert K[0, 0] == K[1, 1]
    assert (K[0, 2].item(), K[1, 2].item()) == (19.5, 9.5)


def test_bad_shapes_raise_value_errors():
    with pytest.raises(ValueError, match="K must have shape"):
        unproject_depth(torch.ones(2, 2), torch.eye(4), torch.eye(4))
    with pytest.raises(ValueError, match="cam_to_world"):
        project_points(torch.ones(3, 3), torch.eye(3), torch.eye(3))
    with pytest.raises(ValueError, match="points"):
        project_points(torch.ones(3, 2), torch.eye(3), torch.eye(4))
    with pytest.raises(ValueError, match="pose"):
        invert_pose(torch.eye(3))


def batched_cameras(views=3, height=6, width=8, dtype=torch.float32):
    eyes = torch.tensor([[0.0, 0, 0], [0.5, 0.1, 0], [-0.3, 0.2, 0.4]], dtype=dtype)[:views]
    poses = look_at(eyes, torch.tensor([0.2, 0.1, 4.0], dtype=dtype), torch.tensor([0.0, -1.0, 0.0], dtype=dtype))
    fov = torch.tensor([50.0, 60.0, 70.0], dtype=dtype)[:views]
    return intrinsics_from_fov(fov, height, width, dtype=dtype), poses


def test_unproject_depth_is_unproject_at_every_pixel_centre_bit_for_bit():
    K, poses = batched_cameras()
    depth = torch.rand(3, 6, 8, generator=torch.Generator().manual_seed(4)) * 3 + 1
    uv = pixel_grid(6, 8).reshape(-1, 2)
    expected = unproject(uv, depth.reshape(3, -1), K, poses).reshape(3, 6, 8, 3)
    assert torch.equal(unproject_depth(depth, K, poses), expected)
    origins, directions = camera_rays(K, poses, 6, 8)
    assert torch.equal(directions, pixel_rays(uv, K, poses).reshape(3, 6, 8, 3))
    assert torch.equal(origins, poses[:, :3, 3])


def test_unproject_in_float64_matches_the_camera_frame_formula():
    g = torch.Generator().manual_seed(5)
    pose = random_pose(g)
    K = torch.tensor([[30.0, 0, 7.5], [0, 32.0, 5.0], [0, 0, 1]], dtype=torch.float64)
    uv = torch.rand(20, 2, generator=g, dtype=torch.float64) * 16
    z = torch.rand(20, generator=g, dtype=torch.float64) * 5 + 0.5
    camera = torch.cat([uv, torch.ones(20, 1, dtype=torch.float64)], -1) @ torch.linalg.inv(K).T * z[:, None]
    world = unproject(uv, z, K, pose)
    assert world.dtype == torch.float64
    torch.testing.assert_close(world, camera @ pose[:3, :3].T + pose[:3, 3], rtol=0, atol=1e-13)


def test_nearest_pixel_rounds_and_clamps():
    uv = torch.tensor([[0.4, 0.6], [7.6, 5.4], [-0.6, 2.0], [3.0, 6.0], [2.5, 1.5]])
    index, inside = nearest_pixel(uv, 6, 8)
    assert inside.tolist() == [True, False, False, False, True]
    # (column 0, row 1), clamped (7, 5), clamped (0, 2), clamped (3, 5), half to even (2, 2)
    assert index.tolist() == [8, 5 * 8 + 7, 2 * 8, 5 * 8 + 3, 2 * 8 + 2]


def test_lift_pixels_uses_the_depth_and_validity_of_the_nearest_pixel():
    K, poses = batched_cameras(views=1, dtype=torch.float64)
    K, pose = K[0], poses[0]
    depth = torch.arange(48, dtype=torch.float64).reshape(6, 8) / 10 + 1
    valid = torch.ones(6, 8, dtype=torch.bool)
    valid[2, 3] = False
    uv = torch.tensor([[3.2, 1.9], [0.3, 0.4], [9.0, -2.0]], dtype=torch.float64)
    points, ok = lift_pixels(uv, depth, valid, K, pose)
    z = torch.stack([depth[2, 3], depth[0, 0], depth[0, 7]])  # nearest pixels, the last clamped
    torch.testing.assert_close(points, unproject(uv, z, K, pose), rtol=0, atol=0)
    assert ok.tolist() == [False, True, True]
    # batched views: each lifts with its own depth map
    both, _ = lift_pixels(uv.expand(2, -1, -1), torch.stack([depth, 2 * depth]), valid.expand(2, -1, -1), K, pose)
    torch.testing.assert_close(both[0], points)
    torch.testing.assert_close(both[1], unproject(uv, 2 * z, K, pose))


def test_transfer_depth_of_a_plane_matches_a_float64_reference():
    """A fronto-parallel plane 2 m ahead seen by a second camera 0.1 m to the right and 0.05 m back with
    another focal length: every target pixel the plane covers reads 2.05 m, and each splatted pixel is where
    NumPy's projection of the lifted source pixel lands."""
    from muskie.geometry import transfer_depth

    height, width = 12, 16
    k_source = torch.tensor([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]], dtype=torch.float64)
    k_target = torch.tensor([[15.0, 0, 8.0], [0, 15.0, 6.0], [0, 0, 1]], dtype=torch.float64)
    source_to_target = torch.eye(4, dtype=torch.float64)
    source_to_target[:3, 3] = torch.tensor([-0.1, 0.0, 0.05])  # the target camera sits at x = +0.1, z = -0.05
    depth = torch.full((height, width), 2.0, dtype=torch.float64)
    depth[0, 0] = 0.0  # no measurement: nothing splatted from it
    out = transfer_depth(depth, k_source, source_to_target, k_target, (height, width))
    rows, cols = np.nonzero(depth.numpy() > 0)
    rays = np.linalg.inv(k_source.numpy()) @ np.stack([cols, rows, np.ones_like(cols)]).astype(np.float64)
    points = rays * 2.0 + np.array([[-0.1], [0.0], [0.05]])
    projected = k_target.numpy() @ points
    u, v = np.rint(projected[0] / projected[2]), np.rint(projected[1] / projected[2])
    expected = np.zeros((height, width))
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    expected[v[inside].astype(int), u[inside].astype(int)] = points[2, inside]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    assert out.max() == pytest.approx(2.05) and (out == 0).any()


def test_transfer_depth_keeps_the_nearest_point_of_a_pixel():
    from muskie.geometry import transfer_depth

    k = torch.tensor([[4.0, 0, 1.5], [0, 4.0, 1.5], [0, 0, 1]], dtype=torch.float64)
    depth = torch.tensor([[1.0, 3.0], [2.0, 4.0]], dtype=torch.float64)
    # a 1x1 target with a tiny focal length: every point lands on its one pixel
    tiny = torch.tensor([[1e-3, 0, 0.0], [0, 1e-3, 0.0], [0, 0, 1]], dtype=torch.float64)
    out = transfer_depth(depth, k, torch.eye(4, dtype=torch.float64), tiny, (1, 1))
    assert out.item() == 1.0
