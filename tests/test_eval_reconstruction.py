"""``evaluate_recon`` on constructed predictors with known scores: one that returns the ground truth and one
that gives every view the same pose."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from muskie.data.batch import collate_views
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import ViewRequest
from muskie.eval.reconstruction import evaluate_recon, markdown_table
from muskie.geometry import relative_poses, rotation_angle, unproject_depth

VIEWS, SIZE = 3, 16


class FixedPrediction(torch.nn.Module):
    """Returns the given poses and world points whatever the images (a stand-in for a ReconModel)."""

    patch_size = 8

    def __init__(self, cam_to_world, points):
        super().__init__()
        self.cam_to_world, self.points = cam_to_world, points

    def forward(self, images):
        return SimpleNamespace(cam_to_world=self.cam_to_world, points=self.points)


@pytest.fixture(scope="module")
def scene():
    dataset = SyntheticViewDataset("val", SyntheticConfig(camera_path="walk"), num_scenes=1)
    batch = collate_views([dataset[ViewRequest(0, VIEWS, SIZE, SIZE, 0)]])  # what evaluate_recon draws (seed 0)
    points = unproject_depth(batch.depth.double(), batch.intrinsics.double(), batch.cam_to_world.double())
    return dataset, batch, points.float()


def test_the_ground_truth_scores_perfectly(scene):
    dataset, batch, points = scene
    row = evaluate_recon(FixedPrediction(batch.cam_to_world, points), dataset, 1, VIEWS, (SIZE, SIZE))
    assert row["auc@5"] == pytest.approx(100.0) and row["pairs"] == 3
    assert row["median_rotation_error"] < 1e-3 and row["median_translation_error"] < 1e-3
    assert row["accuracy"] < 1e-4 and row["l1"] < 1e-4


def test_one_pose_for_every_view_has_the_gt_rotations_as_its_errors(scene):
    dataset, batch, points = scene
    same = torch.eye(4).expand(1, VIEWS, 4, 4)
    row = evaluate_recon(FixedPrediction(same, points), dataset, 1, VIEWS, (SIZE, SIZE))
    relative = relative_poses(batch.cam_to_world[0].double())
    i, j = torch.triu_indices(VIEWS, VIEWS, offset=1)
    gt_angles = np.rad2deg(rotation_angle(relative[i, j, :3, :3], torch.eye(3, dtype=torch.float64)).numpy())
    assert row["median_gt_rotation"] == pytest.approx(np.median(gt_angles))
    assert row["median_rotation_error"] == pytest.approx(row["median_gt_rotation"])
    assert row["median_translation_error"] == 90.0 and row["auc@30"] == 0.0
    assert "same-pose rot err (deg)" in markdown_table({"walk": row})
