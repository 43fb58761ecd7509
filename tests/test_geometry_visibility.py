"""The occlusion test, through its two callers: covisibility of views and the correspondence benchmark's
ground-truth tracks."""

import math

import pytest
import torch

from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import ViewRequest
from muskie.eval.correspondence import ground_truth_tracks
from muskie.geometry import (
    OCCLUSION_TOLERANCE,
    covisible,
    intrinsics_from_fov,
    pixel_grid,
    project_points,
    unproject_depth,
    visible_in_view,
)


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


def test_visible_in_view_checks_image_front_validity_and_occlusion():
    depth = torch.full((4, 5), 2.0, dtype=torch.float64)
    valid = torch.ones(4, 5, dtype=torch.bool)
    valid[3, 4] = False
    uv = torch.tensor(
        [[1.2, 0.9], [4.4, 3.4], [5.0, 1.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0], [math.nan, math.nan]],
        dtype=torch.float64,
    )
    z = torch.tensor([2.0, 2.0, 2.0, 2.0 + OCCLUSION_TOLERANCE, 2.1, -1.0, 0.0], dtype=torch.float64)
    seen = visible_in_view(uv, z, depth, valid)
    # on a pixel / invalid depth there / outside / at the tolerance / occluded / behind / at the camera centre
    assert seen.tolist() == [True, False, False, True, False, False, False]
    assert visible_in_view(uv, z, depth, valid, tolerance=0.2)[4]


@pytest.fixture(scope="module")
def synthetic_sample():
    dataset = SyntheticViewDataset("test", SyntheticConfig(camera_path="walk"), num_scenes=1)
    return dataset[ViewRequest(0, 4, 24, 32, 0)]


def test_tracks_and_covisible_share_one_occlusion_test(synthetic_sample):
    depth, valid = synthetic_sample["depth"], synthetic_sample["valid"]
    K, c2w = synthetic_sample["intrinsics"], synthetic_sample["cam_to_world"]
    queries = pixel_grid(24, 32).reshape(-1, 2)[valid[0].flatten()]
    for tolerance in (OCCLUSION_TOLERANCE, 0.01):
        tracks = ground_truth_tracks(queries, depth, valid, K, c2w, tolerance)
        for view in range(1, 4):
            # the tracks run in float64: so does covisible given float64 cameras
            seen = covisible(
                depth[0].double(),
                K[0].double(),
                c2w[0].double(),
                depth[view].double(),
                K[view].double(),
                c2w[view].double(),
                valid[0],
                valid[view],
                tolerance,
            )
            assert torch.equal(tracks.visible[view], seen[valid[0]])
            assert 0 < int(seen.sum()) < int(valid[0].sum())  # the case has both seen and hidden pixels


def test_covisible_of_batched_views_and_float32(synthetic_sample):
    depth, valid = synthetic_sample["depth"], synthetic_sample["valid"]
    K, c2w = synthetic_sample["intrinsics"], synthetic_sample["cam_to_world"]
    batched = covisible(depth[:3], K[:3], c2w[:3], depth[1:], K[1:], c2w[1:], valid[:3], valid[1:])
    assert batched.shape == (3, 24, 32)
    for pair in range(3):
        single = covisible(
            depth[pair], K[pair], c2w[pair], depth[pair + 1], K[pair + 1], c2w[pair + 1], valid[pair], valid[pair + 1]
        )
        assert torch.equal(batched[pair], single)
    # covisible is the occlusion test applied to every lifted source pixel
    points = unproject_depth(depth[0], K[0], c2w[0]).reshape(-1, 3)
    uv, z = project_points(points, K[1], c2w[1])
    expected = visible_in_view(uv, z, depth[1], valid[1]) & valid[0].flatten()
    assert torch.equal(batched[0].flatten(), expected)
