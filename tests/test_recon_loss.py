import math

import pytest
import torch

from muskie.geometry import intrinsics_from_fov, unproject_depth
from muskie.recon.config import ReconLossConfig
from muskie.recon.loss import normal_map, recon_loss, weighted_median_scale


def scene(generator, b=2, v=3, h=8, w=10):
    depth = 1.0 + 3.0 * torch.rand(b, v, h, w, dtype=torch.float64, generator=generator)
    valid = torch.rand(b, v, h, w, generator=generator) > 0.2
    depth = torch.where(valid, depth, torch.zeros_like(depth))
    K = intrinsics_from_fov(torch.full((b, v), 60.0), h, w, dtype=torch.float64)
    poses = torch.eye(4, dtype=torch.float64).repeat(b, v, 1, 1)
    q, _ = torch.linalg.qr(torch.randn(b, v, 3, 3, dtype=torch.float64, generator=generator))
    poses[..., :3, :3] = q * torch.linalg.det(q)[..., None, None]
    poses[..., :3, 3] = torch.randn(b, v, 3, dtype=torch.float64, generator=generator)
    return depth, valid, K, poses


def perfect_prediction(depth, K, poses, scale, world):
    """GT local points and poses at another scale, in another world frame."""
    local = unproject_depth(depth, K, torch.eye(4, dtype=depth.dtype)) * scale
    pred_poses = world @ poses.clone()
    pred_poses[..., :3, 3] = (world @ poses)[..., :3, 3] * scale
    return local, pred_poses


def test_weighted_median_scale_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 40, dtype=torch.float64, generator=g)
    target = 2.0 * pred + 0.3 * torch.randn(3, 40, dtype=torch.float64, generator=g)
    weight = torch.rand(3, 40, dtype=torch.float64, generator=g)
    weight[0, :10] = 0.0
    scale = weighted_median_scale(pred, target, weight)
    candidates = torch.linspace(0.0, 4.0, 40001, dtype=torch.float64)

    def cost(row: int, s: float) -> float:
        return float((weight[row] * (s * pred[row] - target[row]).abs()).sum())

    for row in range(3):
        brute = min(cost(row, float(c)) for c in candidates)
        assert cost(row, float(scale[row])) <= brute + 1e-12
    assert float(weighted_median_scale(pred, target, torch.zeros_like(weight))[0]) == 1.0


def test_normal_map_of_a_plane():
    v, u = torch.meshgrid(torch.arange(5.0), torch.arange(6.0), indexing="ij")
    points = torch.stack([u, v, 2.0 + 0.5 * u], -1).double()
    normal, defined = normal_map(points, torch.ones(5, 6, dtype=torch.bool))
    expected = torch.tensor([-0.5, 0.0, 1.0], dtype=torch.float64) / math.sqrt(1.25)
    # right x down = x x y = +z for a fronto-parallel surface: away from the camera
    torch.testing.assert_close(normal, expected.expand(4, 5, 3))
    assert defined.all()
    valid = torch.ones(5, 6, dtype=torch.bool)
    valid[2, 3] = False
    assert int((~normal_map(points, valid)[1]).sum()) == 3


def test_loss_is_zero_for_a_perfect_prediction_in_any_frame_and_scale():
    g = torch.Generator().manual_seed(1)
    depth, valid, K, poses = scene(g)
    world = torch.eye(4, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=g))
    world[:3, :3] = q * torch.linalg.det(q)
    world[:3, 3] = torch.tensor([4.0, -1.0, 2.0])
    local, pred_poses = perfect_prediction(depth, K, poses, 0.37, world)
    logits = torch.full(depth.shape, 30.0, dtype=torch.float64)
    result = recon_loss(local, logits, pred_poses, depth, valid, K, poses)
    for name in ("points", "normal", "camera", "rotation", "translation"):
        assert float(getattr(result, name)) < 1e-5, name
    assert float(result.confidence) < 1e-10  # confident everywhere, rightly
    torch.testing.assert_close(
        result.scale.double(),
        torch.full((2,), 1 / 0.37 / 1.0, dtype=torch.float64) / _mean_depth(depth, valid),
        rtol=1e-5,
        atol=0,
    )


def _mean_depth(depth, valid):
    return (depth * valid).sum((1, 2, 3)) / valid.sum((1, 2, 3))


def test_scaling_the_ground_truth_leaves_the_loss_unchanged():
    g = torch.Generator().manual_seed(2)
    depth, valid, K, poses = scene(g)
    local = torch.exp(torch.randn(*depth.shape, 3, dtype=torch.float64, generator=g))
    pred_poses = poses.clone()
    pred_poses[..., :3, 3] += 0.3 * torch.randn(2, 3, 3, dtype=torch.float64, generator=g)
    logits = torch.randn(depth.shape, dtype=torch.float64, generator=g)
    base = recon_loss(local, logits, pred_poses, depth, valid, K, poses)
    scaled_poses = poses.clone()
    scaled_poses[..., :3, 3] *= 7.5
    scaled = recon_loss(local, logits, pred_poses, depth * 7.5, valid, K, scaled_poses)
    assert float(base.loss) > 0.1
    for name in ("loss", "points", "normal", "confidence", "camera"):
        assert float(getattr(scaled, name)) == pytest.approx(float(getattr(base, name)), rel=1e-5), name


def test_loss_terms_react_to_their_errors_and_give_gradients():
    g = torch.Generator().manual_seed(3)
    depth, valid, K, poses = scene(g)
    local, pred_poses = perfect_prediction(depth, K, poses, 1.0, torch.eye(4, dtype=torch.float64))
    noisy = (local * (1 + 0.1 * torch.randn(local.shape, dtype=torch.float64, generator=g))).requires_grad_(True)
    logits = torch.zeros(depth.shape, dtype=torch.float64, requires_grad=True)
    turned = pred_poses.clone()
    turned[:, 1, :3, :3] = turned[:, 1, :3, :3] @ torch.tensor(
        [[1, 0, 0], [0, math.cos(0.1), -math.sin(0.1)], [0, math.sin(0.1), math.cos(0.1)]], dtype=torch.float64
    )
    result = recon_loss(noisy, logits, turned, depth, valid, K, poses, ReconLossConfig())
    assert float(result.points) > 0.01 and float(result.normal) > 0.01
    # camera 1 turned by 0.1 rad: 4 of the 6 ordered pairs are off by 0.1
    assert float(result.rotation) == pytest.approx(0.1 * 4 / 6, rel=1e-6)
    result.loss.backward()
    assert torch.isfinite(noisy.grad).all() and noisy.grad.abs().sum() > 0
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_mismatched_shapes_are_refused():
    g = torch.Generator().manual_seed(4)
    depth, valid, K, poses = scene(g)
    local = torch.ones(*depth.shape, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="depth"):
        recon_loss(local, depth, poses, depth[:, :, :4], valid, K, poses)
    with pytest.raises(ValueError, match="local_points"):
        recon_loss(local[..., :2], depth, poses, depth, valid, K, poses)
