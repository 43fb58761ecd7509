"""probe3d's pairwise protocol on constructed features and scenes with known answers."""

import math

import pytest
import torch
from fixtures import centred_intrinsics, translated

from muskie.eval.backbones import build_backbone
from muskie.eval.pairwise import (
    PairwiseConfig,
    binned_recalls,
    candidate_pixels,
    evaluate_pairwise,
    pairwise_table,
    ratio_test_matches,
)

SIZE, FOCAL, DEPTH = 16, 16.0, 4.0
SHIFT_PX = 2.0  # view 1 moves FOCAL * 0.5 / DEPTH px along x


def test_ratio_test_keeps_the_distinctive_match_first():
    source = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    # source 0 sits between two targets; source 1 has one near it
    target = torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.1, 1.0]], dtype=torch.float64)
    kept, matched, weight = ratio_test_matches(source, target, num_matches=2)
    assert kept.tolist() == [1, 0] and matched[0] == 2
    cos = 1 / math.sqrt(1.01)
    d_near, d_far = 1 - cos, 1 - 0.1 / math.sqrt(1.01)  # source 1 to target 2, and to target 0
    assert weight[0].item() == pytest.approx(1 - d_near / d_far, rel=1e-12)
    assert weight[1].item() == pytest.approx(0.0, abs=1e-12)  # equidistant: the ratio test gives no weight
    kept, _, _ = ratio_test_matches(source, target, num_matches=1, ratio_test=False)
    assert kept.tolist() in ([0], [1])  # both are 1 - cos away: by distance alone nothing tells them apart
    with pytest.raises(ValueError, match="two target"):
        ratio_test_matches(source, target[:1], 1)


def test_candidates_are_every_stride_pixel_with_depth():
    valid = torch.ones(8, 8, dtype=torch.bool)
    valid[0, 4] = False
    assert candidate_pixels(valid, 4).tolist() == [[0.0, 0.0], [0.0, 4.0], [4.0, 4.0]]


def rolled(degrees):
    pose = torch.eye(4)
    a = math.radians(degrees)
    pose[:2, :2] = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return pose


def plane_sample():
    """A fronto-parallel plane at depth 4: view 1 translated (the plane moves 2 px), view 2 rolled 45 degrees."""
    poses = torch.stack([torch.eye(4), translated(0.5), rolled(45.0)])
    return {
        "images": torch.zeros(3, 3, SIZE, SIZE),
        "depth": torch.full((3, SIZE, SIZE), DEPTH),
        "valid": torch.ones(3, SIZE, SIZE, dtype=torch.bool),
        "intrinsics": centred_intrinsics(3, FOCAL, SIZE),
        "cam_to_world": poses,
        "scene": "plane",
    }


def test_matching_the_same_pixel_errs_by_the_motion_exactly():
    # the identity control's features code each pixel's position: it matches every point to its own pixel
    result = evaluate_pairwise(build_backbone("identity"), [plane_sample()], PairwiseConfig(num_matches=1000))
    errors = result.errors["nn"]
    translated_pair = errors["pair"] == 0
    assert int(translated_pair.sum()) == (SIZE // 4) ** 2  # all 16 candidates kept (fewer than 1000)
    torch.testing.assert_close(errors["error_2d"][translated_pair], torch.full((16,), SHIFT_PX, dtype=torch.float64))
    torch.testing.assert_close(errors["error_3d"][translated_pair], torch.full((16,), 0.5, dtype=torch.float64))
    summary = result.to_dict()["readouts"]["nn"]
    assert summary["pooled"]["pairs"] == 2 and summary["pooled"]["matches"] == 32
    bins = summary["binned"]["rotation_deg"]
    assert bins["0-30"]["pairs"] == 1 and bins["30-60"]["pairs"] == 1 and bins["90-120"]["pairs"] == 0
    assert bins["0-30"]["recall_10px"] == 100 and bins["0-30"]["recall_2cm"] == 0
    assert "| identity (query pixel) | nn | 2 | 32 |" in pairwise_table([result])


def test_a_perfect_matcher_recalls_everything():
    sample = plane_sample()
    sample["cam_to_world"] = torch.eye(4).expand(3, 4, 4).clone()  # one camera: every pixel maps to itself
    result = evaluate_pairwise(build_backbone("identity"), [sample], PairwiseConfig(num_matches=5, stride=2))
    pooled = result.to_dict()["readouts"]["nn"]["pooled"]
    assert pooled["matches"] == 10
    assert all(pooled[k] == 100 for k in ("recall_1cm", "recall_2cm", "recall_5cm", "recall_5px", "recall_50px"))


def test_binned_recalls_are_means_over_pairs_and_stop_at_the_last_edge():
    errors = {
        "pair": torch.tensor([0.0, 0, 1, 1, 1, 1, 2]),
        "rotation_deg": torch.tensor([10.0, 10, 20, 20, 20, 20, 150]),
        "error_3d": torch.tensor([0.0, 1, 0, 0, 0, 1, 0]),
        "error_2d": torch.zeros(7),
    }
    bins = binned_recalls(errors, (0, 30, 60))
    assert bins["0-30"] == {"pairs": 2, "recall_2cm": pytest.approx(100 * (0.5 + 0.75) / 2), "recall_10px": 100.0}
    assert bins["30-60"]["pairs"] == 0 and "150" not in str(list(bins))


def test_pairwise_settings_are_checked():
    with pytest.raises(ValueError, match="subset"):
        PairwiseConfig(readouts=("attention",))
    with pytest.raises(ValueError, match="increasing"):
        PairwiseConfig(rotation_edges=(0, 30, 30))
    sample = plane_sample()
    del sample["depth"]
    with pytest.raises(ValueError, match="needs depth"):
        evaluate_pairwise(build_backbone("identity"), [sample])
