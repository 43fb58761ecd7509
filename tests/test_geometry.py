import pytest
import torch

from muskie.data.geometry import (
    camera_rays,
    covisible,
    intrinsics_from_fov,
    invert_pose,
    look_at,
    opencv_to_opengl,
    opengl_to_opencv,
    pixel_grid,
    project_points,
    unproject_depth,
)


def random_pose(generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.linalg.det(q))
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = q
    pose[:3, 3] = torch.randn(3, generator=generator, dtype=torch.float64)
    return pose.to(dtype)


def test_unproject_then_project_returns_the_pixels_and_depths():
    g = torch.Generator().manual_seed(0)
    pose = torch.stack([random_pose(g) for _ in range(2)])
    K = torch.tensor([[30.0, 0, 7.5], [0, 32.0, 5.0], [0, 0, 1]], dtype=torch.float64).expand(2, 3, 3)
    depth = torch.rand(2, 6, 8, generator=g, dtype=torch.float64) * 5 + 0.5
    points = unproject_depth(depth, K, pose)
    assert points.shape == (2, 6, 8, 3)
    uv, z = project_points(points.reshape(2, -1, 3), K, pose)
    torch.testing.assert_close(z, depth.reshape(2, -1), rtol=0, atol=1e-12)
    torch.testing.assert_close(uv, pixel_grid(6, 8, dtype=torch.float64).reshape(1, -1, 2).expand(2, -1, -1), rtol=0, atol=1e-10)


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


def test_invert_pose_is_the_matrix_inverse():
    g = torch.Generator().manual_seed(2)
    poses = torch.stack([random_pose(g) for _ in range(3)])
    torch.testing.assert_close(invert_pose(poses) @ poses, torch.eye(4, dtype=torch.float64).expand(3, 4, 4))
    torch.testing.assert_close(invert_pose(poses), torch.linalg.inv(poses))


def test_opengl_opencv_round_trip_and_axes():
    g = torch.Generator().manual_seed(3)
    pose = random_pose(g)
    torch.testing.assert_close(opencv_to_opengl(opengl_to_opencv(pose)), pose)
    # an OpenGL camera looks down its -z: a point there is in front of the converted OpenCV camera
    gl_pose = torch.eye(4, dtype=torch.float64)
    point_in_front = torch.tensor([[0.0, 0.5, -2.0]], dtype=torch.float64)
    K = intrinsics_from_fov(60.0, 10, 10, dtype=torch.float64)
    uv, z = project_points(point_in_front, K, opengl_to_opencv(gl_pose))
    assert z.item() == pytest.approx(2.0)
    # OpenGL y is up, so a point above the axis lands in the upper half (small row)
    assert uv[0, 1] < 4.5


def test_look_at_aims_at_target_with_up_upwards():
    eye = torch.tensor([1.0, -2.0, 1.5], dtype=torch.float64)
    target = torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    pose = look_at(eye, target, up)
    rotation = pose[:3, :3]
    torch.testing.assert_close(rotation.T @ rotation, torch.eye(3, dtype=torch.float64))
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0)
    K = intrinsics_from_fov(60.0, 11, 11, dtype=torch.float64)
    uv, z = project_points(torch.stack([target, target + up]), K, pose)
    torch.testing.assert_close(uv[0], torch.tensor([5.0, 5.0], dtype=torch.float64))
    assert uv[1, 1] < uv[0, 1]  # world up appears higher in the image
    assert abs(rotation[2, 0].item()) < 1e-12  # no roll: the x axis is horizontal


def test_look_at_batched_and_errors():
    eyes = torch.zeros(4, 3)
    targets = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [-1.0, 0, 0], [0, -1.0, 0.2]])
    poses = look_at(eyes, targets, torch.tensor([0.0, 0, 1.0]))
    assert poses.shape == (4, 4, 4) and poses.dtype == torch.float32
    with pytest.raises(ValueError, match="coincide"):
        look_at(torch.zeros(3), torch.zeros(3), torch.tensor([0.0, 0, 1]))
    with pytest.raises(ValueError, match="parallel"):
        look_at(torch.zeros(3), torch.tensor([0.0, 0, 2]), torch.tensor([0.0, 0, 1]))


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


def test_covisible_detects_occlusion_and_leaving_the_image():
    K = intrinsics_from_fov(60.0, 8, 8, dtype=torch.float64)
    pose = torch.eye(4, dtype=torch.float64)
    wall = torch.full((8, 8), 4.0, dtype=torch.float64)
    assert covisible(wall, K, pose, wall, K, pose).all()
    occluded = wall.clone()
    occluded[:, :4] = 1.0  # something 1 m away hides the left half from the second view
    seen = covisible(wall, K, pose, occluded, K, pose)
    assert not seen[:, :4].any() and seen[:, 4:].all()
    # a camera turned by 90 degrees sees none of it
    turned = pose.clone()
    turned[:3, :3] = torch.tensor([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=torch.float64)
    assert not covisible(wall, K, pose, wall, K, turned).any()
    # points without depth are never covisible
    assert not covisible(wall, K, pose, wall, K, pose, valid_src=torch.zeros(8, 8, dtype=torch.bool)).any()
