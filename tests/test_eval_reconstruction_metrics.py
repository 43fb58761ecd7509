import math

import numpy as np
import pytest
import torch

from muskie.eval.reconstruction_metrics import pointmap_metrics, pose_auc, pose_metrics, relative_pose_errors
from muskie.geometry import Similarity, nearest_distances


def rotation_about(axis, degrees):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = math.radians(degrees)
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def random_poses(rng, n):
    poses = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        poses[i, :3, :3] = rotation_about(rng.normal(size=3), rng.uniform(0, 180))
        poses[i, :3, 3] = rng.normal(size=3)
    return torch.from_numpy(poses)


def test_identity_predictions_score_100_and_zero_errors():
    gt = random_poses(np.random.default_rng(0), 6)
    # the prediction lives in another world frame and scale: no alignment needed for relative poses
    world = np.eye(4)
    world[:3, :3] = rotation_about([1, 1, 0], 40)
    world[:3, 3] = [5, -1, 2]
    pred = torch.from_numpy(world) @ gt.clone()
    pred[:, :3, 3] *= 3.0
    rotation, translation = relative_pose_errors(pred, gt)
    assert rotation.shape == translation.shape == (15,)
    assert float(rotation.max()) < 1e-6 and float(translation.max()) < 1e-6
    metrics = pose_metrics(rotation, translation)
    assert metrics["auc@5"] == metrics["auc@15"] == metrics["auc@30"] == 100.0
    assert metrics["pairs"] == 15


def test_a_known_rotation_error_gives_the_auc_it_must():
    # two cameras; the prediction turns camera 1 by 10.5 degrees about its own translation direction, so
    # the translation direction stays right and the pair's error is exactly 10.5 degrees
    gt = torch.eye(4, dtype=torch.float64).repeat(2, 1, 1)
    gt[1, :3, 3] = torch.tensor([1.0, 0.0, 0.0])
    pred = gt.clone()
    pred[1, :3, :3] = torch.from_numpy(rotation_about([1, 0, 0], 10.5))
    rotation, translation = relative_pose_errors(pred, gt)
    assert float(rotation[0]) == pytest.approx(10.5, abs=1e-9) and float(translation[0]) < 1e-9
    metrics = pose_metrics(rotation, translation)
    # independently: the fraction of the thresholds t = 1..T with 10.5 < t, i.e. (T - 10) / T
    assert metrics["auc@5"] == 0.0
    assert metrics["auc@15"] == pytest.approx(100 * 5 / 15)
    assert metrics["auc@30"] == pytest.approx(100 * 20 / 30)


def test_translation_direction_error_is_folded_and_zero_translation_is_worst():
    gt = torch.eye(4, dtype=torch.float64).repeat(2, 1, 1)
    gt[1, :3, 3] = torch.tensor([1.0, 0.0, 0.0])
    pred = gt.clone()
    pred[1, :3, 3] = torch.tensor([1.0, 1.0, 0.0])
    assert float(relative_pose_errors(pred, gt)[1][0]) == pytest.approx(45.0)
    pred[1, :3, 3] = torch.tensor([-1.0, 0.2, 0.0])  # 168.69 degrees, folded to 11.31
    assert float(relative_pose_errors(pred, gt)[1][0]) == pytest.approx(math.degrees(math.atan(0.2)))
    pred[1, :3, 3] = 0.0
    assert float(relative_pose_errors(pred, gt)[1][0]) == 90.0


def test_pose_auc_bins_by_whole_degrees():
    errors = np.array([0.5, 2.5, 2.9, 40.0])
    # thresholds 1..3: fractions below t are 1/4, 1/4, 3/4
    assert pose_auc(errors, 3) == pytest.approx(100 * (0.25 + 0.25 + 0.75) / 3)
    with pytest.raises(ValueError):
        pose_auc([], 30)
    with pytest.raises(ValueError):
        pose_auc(errors, 2.5)


def test_accuracy_and_completeness_of_a_known_offset():
    rng = np.random.default_rng(3)
    gt = rng.uniform(-1, 1, size=(500, 3))
    # a prediction that is the GT under an unknown similarity: everything aligns to zero error
    truth = Similarity(0.3, rotation_about([1, 0, 1], 70.0), np.array([2.0, 0.0, -1.0]))
    pred = np.linalg.solve(truth.rotation, ((gt - truth.translation) / truth.scale).T).T
    scores = pointmap_metrics(pred, gt)
    for name in ("accuracy", "completeness", "overall", "l1"):
        assert scores[name] < 1e-9
    # a plane of GT points and a prediction with an extra point 0.5 off the plane: accuracy counts it
    # (one of N+1 predicted points at distance 0.5), completeness does not
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 21), np.linspace(0, 1, 21)), -1).reshape(-1, 2)
    plane = np.c_[grid, np.zeros(len(grid))]
    extra = np.array([[0.5, 0.5, 0.5]])
    distances_pred = nearest_distances(np.concatenate([plane, extra]), plane)
    assert distances_pred.mean() == pytest.approx(0.5 / (len(plane) + 1))
    assert nearest_distances(plane, np.concatenate([plane, extra])).mean() == 0.0
