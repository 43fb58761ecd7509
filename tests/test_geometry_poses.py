import math

import numpy as np
import pytest
import torch
from fixtures import random_pose

from muskie.geometry import (
    intrinsics_from_fov,
    invert_pose,
    look_at,
    opencv_to_opengl,
    opengl_to_opencv,
    pair_mask,
    project_points,
    quaternion_to_rotation,
    relative_poses,
    rotation_angle,
    rotation_to_quaternion,
    special_orthonormalize,
    transform_points,
    vector_angle,
)


def random_rotation(generator, n):
    q, _ = torch.linalg.qr(torch.randn(n, 3, 3, dtype=torch.float64, generator=generator))
    return q * torch.linalg.det(q)[:, None, None]


def axis_rotation(axis, degrees):
    axis = torch.tensor(axis, dtype=torch.float64)
    axis = axis / axis.norm()
    k = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], dtype=torch.float64)
    a = math.radians(degrees)
    return torch.eye(3, dtype=torch.float64) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def test_special_orthonormalize_is_the_nearest_rotation():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(64, 3, 3, dtype=torch.float64, generator=g)
    r = special_orthonormalize(m)
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(64, 3, 3))
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(64, dtype=torch.float64))
    # nearest: no other rotation (random samples and small perturbations) is closer in Frobenius norm
    best = (r - m).flatten(1).norm(dim=1)
    for other in [random_rotation(g, 64), r @ axis_rotation([1, 2, 3], 1.0)]:
        assert bool(((other - m).flatten(1).norm(dim=1) >= best - 1e-12).all())
    rotations = random_rotation(g, 8)
    torch.testing.assert_close(special_orthonormalize(rotations * 3.0), rotations)


@pytest.mark.parametrize("start", ["random", "identity", "reflection"])
def test_special_orthonormalize_gradient_matches_finite_differences(start):
    g = torch.Generator().manual_seed(1)
    base = {
        "random": torch.randn(4, 3, 3, dtype=torch.float64, generator=g),
        "identity": torch.eye(3, dtype=torch.float64).expand(4, 3, 3).clone(),
        "reflection": torch.diag(torch.tensor([3.0, 2.0, -1.0], dtype=torch.float64)).expand(4, 3, 3).clone(),
    }[start]
    m = (base + 1e-3 * torch.randn(4, 3, 3, dtype=torch.float64, generator=g)).requires_grad_(True)
    assert torch.autograd.gradcheck(special_orthonormalize, (m,), eps=1e-7, atol=1e-6)
    # exactly the identity (three equal singular values): autograd through SVD would divide by zero
    exact = torch.eye(3, dtype=torch.float64).requires_grad_(True)
    (special_orthonormalize(exact) * torch.randn(3, 3, dtype=torch.float64, generator=g)).sum().backward()
    assert torch.isfinite(exact.grad).all()


def test_relative_poses_ignore_the_world_frame():
    g = torch.Generator().manual_seed(2)
    poses = torch.eye(4, dtype=torch.float64).repeat(5, 1, 1)
    poses[:, :3, :3] = random_rotation(g, 5)
    poses[:, :3, 3] = torch.randn(5, 3, dtype=torch.float64, generator=g)
    world = torch.eye(4, dtype=torch.float64)
    world[:3, :3] = random_rotation(g, 1)[0]
    world[:3, 3] = torch.tensor([1.0, -2.0, 3.0])
    relative = relative_poses(poses)
    torch.testing.assert_close(relative_poses(world @ poses), relative)
    torch.testing.assert_close(relative[1, 3], torch.linalg.inv(poses[1]) @ poses[3])
    torch.testing.assert_close(relative[2, 2], torch.eye(4, dtype=torch.float64))


def test_angles_of_known_rotations_and_vectors():
    for degrees in [0.0, 1e-4, 10.0, 90.0, 179.0]:
        r = axis_rotation([0.3, -1.0, 2.0], degrees)
        angle = rotation_angle(torch.eye(3, dtype=torch.float64), r)
        assert float(torch.rad2deg(angle)) == pytest.approx(degrees, abs=1e-9)
    a = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert float(vector_angle(a, torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64))) == pytest.approx(math.pi / 4)
    assert float(vector_angle(a, -a)) == pytest.approx(math.pi)
    assert pair_mask(3).sum() == 6 and not pair_mask(3).diagonal().any()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        special_orthonormalize(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="cam_to_world"):
        relative_poses(torch.zeros(3, 3, 3))
    assert np.isfinite(special_orthonormalize(torch.zeros(3, 3)).numpy()).all()


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


def random_rotation_np(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_quaternion_round_trip_all_branches():
    rng = np.random.default_rng(0)
    rotations = [random_rotation_np(rng) for _ in range(200)]
    rotations += [np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1]), np.eye(3)]
    for rotation in rotations:
        qvec = rotation_to_quaternion(rotation)
        assert qvec[0] >= 0 and abs(np.linalg.norm(qvec) - 1) < 1e-12
        np.testing.assert_allclose(quaternion_to_rotation(qvec), rotation, atol=1e-12)


def test_opengl_opencv_flip_is_one_involution_for_arrays_and_tensors():
    rng = np.random.default_rng(4)
    poses = np.tile(np.eye(4), (3, 1, 1))
    poses[:, :3, :3] = [random_rotation_np(rng) for _ in range(3)]
    poses[:, :3, 3] = rng.normal(size=(3, 3))
    # the matrix the transforms.json reader and writer multiplied by before this package existed
    old_gl_to_cv = np.diag([1.0, -1.0, -1.0, 1.0])
    converted = opengl_to_opencv(poses)
    assert isinstance(converted, np.ndarray) and converted.dtype == np.float64
    np.testing.assert_array_equal(converted, poses @ old_gl_to_cv)
    np.testing.assert_array_equal(opencv_to_opengl(converted), poses)
    np.testing.assert_array_equal(converted[:, :, 1:3], -poses[:, :, 1:3])
    np.testing.assert_array_equal(converted[:, :, [0, 3]], poses[:, :, [0, 3]])
    tensor = opengl_to_opencv(torch.from_numpy(poses).float())
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor.numpy(), converted.astype(np.float32))
    with pytest.raises(ValueError, match="cam_to_world"):
        opengl_to_opencv(np.eye(3))


def test_invert_pose_gives_the_same_bits_for_arrays_and_tensors():
    g = torch.Generator().manual_seed(6)
    poses = torch.stack([random_pose(g) for _ in range(4)])
    inverse = invert_pose(poses.numpy())
    assert isinstance(inverse, np.ndarray) and inverse.dtype == np.float64
    np.testing.assert_array_equal(inverse, invert_pose(poses).numpy())
    np.testing.assert_allclose(inverse, np.linalg.inv(poses.numpy()), rtol=0, atol=1e-12)
    # the rigid inverse R^T, -R^T t
    rotation, translation = poses[0, :3, :3].numpy(), poses[0, :3, 3].numpy()
    np.testing.assert_array_equal(inverse[0, :3, :3], rotation.T)
    np.testing.assert_allclose(inverse[0, :3, 3], -rotation.T @ translation, rtol=0, atol=1e-15)
    assert invert_pose(poses.numpy().astype(np.float32)).dtype == np.float32


def test_transform_points_applies_rotation_then_translation():
    g = torch.Generator().manual_seed(7)
    poses = torch.stack([random_pose(g) for _ in range(2)])
    points = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    expected = (poses[:, None, :3, :3] @ points[..., None])[..., 0] + poses[:, None, :3, 3]
    torch.testing.assert_close(transform_points(poses, points), expected)
    np.testing.assert_allclose(transform_points(poses.numpy(), points.numpy()), expected.numpy())
    # one pose moves points of any shape
    grid = torch.randn(3, 4, 6, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(transform_points(poses[0], grid), grid @ poses[0, :3, :3].T + poses[0, :3, 3])
    torch.testing.assert_close(transform_points(invert_pose(poses), transform_points(poses, points)), points)


def test_quaternions_are_normalised_and_give_proper_rotations():
    rng = np.random.default_rng(8)
    for _ in range(50):
        quaternion = rng.standard_normal(4)
        rotation = quaternion_to_rotation(quaternion)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), rtol=0, atol=1e-14)
        assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-14)
        np.testing.assert_array_equal(quaternion_to_rotation(-quaternion), rotation)
        np.testing.assert_allclose(quaternion_to_rotation(3.0 * quaternion), rotation, rtol=0, atol=1e-15)
    # (cos a/2, sin a/2 * axis) turns by a about the axis
    half = math.radians(30.0) / 2
    rotation = quaternion_to_rotation([math.cos(half), 0.0, 0.0, math.sin(half)])
    np.testing.assert_allclose(rotation @ [1.0, 0, 0], [math.cos(2 * half), math.sin(2 * half), 0.0], atol=1e-15)


def test_special_orthonormalize_under_bf16_autocast_gives_a_float32_rotation():
    matrix = torch.eye(3) + 0.1 * torch.randn(4, 3, 3, generator=torch.Generator().manual_seed(0))
    expected = special_orthonormalize(matrix)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rotation = special_orthonormalize(torch.nn.functional.linear(matrix, torch.eye(3)))
    assert rotation.dtype == torch.float32
    torch.testing.assert_close(rotation, expected, atol=2e-2, rtol=0)
