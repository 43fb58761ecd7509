import math

import numpy as np
import pytest
import torch

from muskie.recon.poses import pair_mask, relative_poses, rotation_angle, special_orthonormalize, vector_angle


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
    base = {"random": torch.randn(4, 3, 3, dtype=torch.float64, generator=g),
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
