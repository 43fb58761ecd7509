"""The correspondence protocol and its metrics on constructed cases with known answers."""

import math

import numpy as np
import pytest
import torch
from fixtures import centred_intrinsics, translated
from PIL import Image

from muskie.eval.backbones import FeatureBackbone, FeatureOutput
from muskie.eval.correspondence import (
    CorrespondenceConfig,
    CorrespondenceResult,
    depth_metrics,
    epipolar_metrics,
    evaluate_correspondence,
    ground_truth_tracks,
    markdown_table,
    sample_queries,
    score_depth_matches,
    score_epipolar_matches,
    texture_mask,
)
from muskie.eval.readouts import attention_matches, mean_attention

SIZE = 16
FOCAL = 16.0
PLANE_DEPTH = 4.0
BASELINE = 0.5  # view 1 sits this far along +x: a point moves FOCAL * BASELINE / PLANE_DEPTH = 2 px left


def intrinsics(views):
    return centred_intrinsics(views, FOCAL, SIZE)


def plane_scene():
    """Three views of a fronto-parallel plane at z = 4: view 0 at the origin, view 1 moved 0.5 along x,
    view 2 at the origin but with a nearer occluder (depth 2) over its left half."""
    depth = torch.full((3, SIZE, SIZE), PLANE_DEPTH)
    depth[2, :, : SIZE // 2] = 2.0
    valid = torch.ones(3, SIZE, SIZE, dtype=torch.bool)
    cam_to_world = torch.stack([torch.eye(4), translated(BASELINE), torch.eye(4)])
    return depth, valid, intrinsics(3), cam_to_world


def all_pixels():
    v, u = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    return torch.stack([u.flatten(), v.flatten()], dim=-1).float()


def test_tracks_follow_the_geometry_and_the_occlusion_test_drops_hidden_points():
    depth, valid, K, c2w = plane_scene()
    queries = all_pixels()
    tracks = ground_truth_tracks(queries, depth, valid, K, c2w)
    shift = FOCAL * BASELINE / PLANE_DEPTH
    torch.testing.assert_close(tracks.target_uv[1], queries - torch.tensor([shift, 0.0]))
    torch.testing.assert_close(tracks.target_uv[2], queries)
    assert not tracks.visible[0].any()  # view 0 is never scored
    assert torch.equal(tracks.visible[1], queries[:, 0] - shift >= 0)  # the rest leaves the image
    assert torch.equal(tracks.visible[2], queries[:, 0] >= SIZE // 2)  # behind the occluder: hidden


def test_occlusion_tolerance_keeps_points_within_it():
    depth, valid, K, c2w = plane_scene()
    depth[2, :, : SIZE // 2] = PLANE_DEPTH - 0.04  # nearer, but within 5 cm
    tracks = ground_truth_tracks(all_pixels(), depth, valid, K, c2w, tolerance=0.05)
    assert tracks.visible[2].all()
    tracks = ground_truth_tracks(all_pixels(), depth, valid, K, c2w, tolerance=0.03)
    assert torch.equal(tracks.visible[2], all_pixels()[:, 0] >= SIZE // 2)


def test_tracks_refuse_queries_without_depth():
    depth, valid, K, c2w = plane_scene()
    valid[0, 0, 0] = False
    with pytest.raises(ValueError, match="valid depth"):
        ground_truth_tracks(torch.tensor([[0.0, 0.0]]), depth, valid, K, c2w)


def test_perfect_matcher_scores_100_percent_and_zero_error():
    depth, valid, K, c2w = plane_scene()
    tracks = ground_truth_tracks(all_pixels(), depth, valid, K, c2w)
    metrics = depth_metrics(score_depth_matches(tracks.target_uv, tracks, depth, valid, K, c2w))
    assert metrics["pairs"] == int(tracks.visible.sum())
    assert metrics["epe_mean_px"] == 0 and metrics["err3d_mean"] == 0 and metrics["missing3d"] == 0
    for key in ("acc_5px", "acc_10px", "acc_5pct_diag", "acc_10pct_diag", "acc3d_2pct", "acc3d_5pct"):
        assert metrics[key] == 100.0


def test_centre_matcher_scores_what_it_must():
    depth, valid, K, c2w = plane_scene()
    queries = all_pixels()
    tracks = ground_truth_tracks(queries, depth, valid, K, c2w)
    centre = (SIZE - 1) / 2
    predicted = torch.full_like(tracks.target_uv, centre)
    metrics = depth_metrics(score_depth_matches(predicted, tracks, depth, valid, K, c2w))

    # independent float64 answer: true targets u - 2 in view 1 (where u >= 2), u in view 2 (where u >= 8)
    u, v = queries[:, 0].double().numpy(), queries[:, 1].double().numpy()
    shift = FOCAL * BASELINE / PLANE_DEPTH
    true = np.concatenate([np.stack([u - shift, v], -1)[u >= shift], np.stack([u, v], -1)[u >= SIZE // 2]])
    epe = np.hypot(true[:, 0] - centre, true[:, 1] - centre)
    # on a fronto-parallel plane at depth Z both pixels lift to Z: the 3D error is epe * Z / f
    err3d = epe * PLANE_DEPTH / FOCAL
    diagonal = math.hypot(SIZE, SIZE)
    assert metrics["pairs"] == len(epe)
    assert metrics["epe_mean_px"] == pytest.approx(epe.mean(), rel=1e-9)
    assert metrics["acc_5px"] == pytest.approx(100 * np.mean(epe <= 5))
    assert metrics["acc_10px"] == pytest.approx(100 * np.mean(epe <= 10))
    assert metrics["acc_5pct_diag"] == pytest.approx(100 * np.mean(epe <= 0.05 * diagonal))
    assert metrics["acc_10pct_diag"] == pytest.approx(100 * np.mean(epe <= 0.10 * diagonal))
    assert metrics["err3d_mean"] == pytest.approx(err3d.mean(), rel=1e-6)
    assert metrics["err3d_rel_mean"] == pytest.approx(err3d.mean() / PLANE_DEPTH, rel=1e-6)
    assert metrics["acc3d_2pct"] == pytest.approx(100 * np.mean(err3d <= 0.02 * PLANE_DEPTH))
    assert metrics["acc3d_5pct"] == pytest.approx(100 * np.mean(err3d <= 0.05 * PLANE_DEPTH))
    assert 0 < metrics["acc_5px"] < 100  # the case tells thresholds apart
    # the authors' thresholds: px, and absolute cm of a metric scene (world units are metres)
    for threshold in (1, 2, 5, 10, 25, 50):
        assert metrics[f"acc_{threshold}px"] == pytest.approx(100 * np.mean(epe <= threshold))
    assert metrics["err3d_mean_cm"] == pytest.approx(100 * err3d.mean(), rel=1e-6)
    for threshold in (1, 2, 5, 10):
        assert metrics[f"acc3d_{threshold}cm"] == pytest.approx(100 * np.mean(err3d <= threshold / 100))


def test_absolute_3d_thresholds_in_cm():
    error_3d = torch.tensor([0.005, 0.015, 0.03, 0.07, 0.2, math.nan], dtype=torch.float64)  # metres
    errors = {
        "error_2d": torch.zeros(6, dtype=torch.float64),
        "error_3d": error_3d,
        "depth_scale": torch.ones(6, dtype=torch.float64),
        "diagonal": torch.ones(6, dtype=torch.float64),
    }
    metrics = depth_metrics(errors)
    assert [metrics[f"acc3d_{cm}cm"] for cm in (1, 2, 5, 10)] == pytest.approx([100 / 6, 200 / 6, 300 / 6, 400 / 6])
    assert metrics["err3d_mean_cm"] == pytest.approx(100 * (0.005 + 0.015 + 0.03 + 0.07 + 0.2) / 5)
    assert metrics["missing3d"] == pytest.approx(100 / 6)  # a prediction without depth is a miss, not a mean term


def test_pooling_view_0_adds_a_zero_error_pair_per_query():
    depth, valid, K, c2w = plane_scene()
    queries = all_pixels()
    tracks = ground_truth_tracks(queries, depth, valid, K, c2w)
    centre = (SIZE - 1) / 2
    predicted = torch.full_like(tracks.target_uv, centre)
    predicted[0] = queries  # row 0 holds the queries, as every readout returns it
    plain = depth_metrics(score_depth_matches(predicted, tracks, depth, valid, K, c2w))
    pooled = depth_metrics(score_depth_matches(predicted, tracks, depth, valid, K, c2w, pool_view0=True))
    assert pooled["pairs"] == plain["pairs"] + len(queries)
    assert pooled["epe_mean_px"] == pytest.approx(plain["epe_mean_px"] * plain["pairs"] / pooled["pairs"])
    hits = plain["acc_1px"] * plain["pairs"] + 100 * len(queries)
    assert pooled["acc_1px"] == pytest.approx(hits / pooled["pairs"])
    assert pooled["acc3d_1cm"] > plain["acc3d_1cm"]


def test_prediction_without_depth_is_a_3d_miss():
    depth, valid, K, c2w = plane_scene()
    tracks = ground_truth_tracks(all_pixels(), depth, valid, K, c2w)
    valid[1] = False  # view 1 has no depth anywhere: its predictions cannot be lifted
    metrics = depth_metrics(score_depth_matches(tracks.target_uv, tracks, depth, valid, K, c2w))
    in_view_1 = int(tracks.visible[1].sum())
    assert metrics["missing3d"] == pytest.approx(100 * in_view_1 / metrics["pairs"])
    assert metrics["acc3d_2pct"] == pytest.approx(100 - metrics["missing3d"])
    assert metrics["err3d_mean"] == 0


def test_epipolar_metrics_of_known_distances():
    K, c2w = intrinsics(2), torch.stack([torch.eye(4), translated(BASELINE)])
    queries = torch.tensor([[3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]])
    offsets = torch.tensor([0.0, 1.0, 3.0, 12.0])
    predicted = torch.stack([queries, queries + torch.stack([torch.zeros(4), offsets], -1)])
    metrics = epipolar_metrics(score_epipolar_matches(predicted, K, c2w))
    assert metrics["pairs"] == 4
    assert metrics["epi_mean_px"] == pytest.approx(4.0)
    assert metrics["epi_median_px"] == pytest.approx(1.0)  # torch's median: the lower of the middle two
    assert (metrics["acc_2px"], metrics["acc_5px"], metrics["acc_10px"]) == (50.0, 75.0, 75.0)


def test_sample_queries_are_distinct_candidates_and_seeded():
    candidates = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    candidates[4:9, 2:13] = True
    queries = sample_queries(candidates, 20, torch.Generator().manual_seed(3))
    assert queries.shape == (20, 2)
    assert candidates[queries[:, 1].long(), queries[:, 0].long()].all()
    assert len({tuple(q.tolist()) for q in queries}) == 20
    torch.testing.assert_close(queries, sample_queries(candidates, 20, torch.Generator().manual_seed(3)))
    assert sample_queries(candidates, 1000, torch.Generator().manual_seed(0)).shape == (55, 2)


def test_texture_mask_excludes_flat_background():
    image = -torch.ones(3, 32, 32)  # black
    image[:, 8:24, 8:24] = torch.where((torch.arange(16)[:, None] + torch.arange(16)) % 2 == 0, 1.0, -1.0)
    mask = texture_mask(image)
    assert mask[8:24, 8:24].all()
    assert not mask[:4].any() and not mask[:, :4].any()


class OneHotPositions(FeatureBackbone):
    """Features = a one-hot code of the pixel (one cell per pixel), the same in every view."""

    name = "one-hot positions"

    def forward(self, images, block=-1, with_attention=False):
        b, v, _, h, w = images.shape
        codes = torch.eye(h * w).reshape(h, w, h * w)
        return FeatureOutput(features=codes.expand(b, v, h, w, h * w))


def static_sample(views=3):
    """Views from one camera (every pixel maps to itself) with view 0's left columns lacking depth."""
    depth = torch.full((views, SIZE, SIZE), PLANE_DEPTH)
    valid = torch.ones(views, SIZE, SIZE, dtype=torch.bool)
    valid[0, :, :3] = False
    return {
        "images": torch.zeros(views, 3, SIZE, SIZE),
        "depth": depth,
        "valid": valid,
        "intrinsics": intrinsics(views),
        "cam_to_world": torch.eye(4).expand(views, 4, 4).clone(),
        "scene": "static",
    }


def test_evaluation_end_to_end_with_a_perfect_backbone():
    config = CorrespondenceConfig(num_queries=30, readouts=("nn", "attention"))
    result = evaluate_correspondence(OneHotPositions(), [static_sample(), static_sample()], config)
    assert result.protocol == "depth" and result.samples == 2
    assert "attention" in result.skipped and set(result.errors) == {"nn"}
    metrics = result.metrics("nn")
    assert metrics["pairs"] == 2 * 30 * 2  # 2 samples x 30 queries x 2 scored views
    assert metrics["epe_mean_px"] == 0 and metrics["acc_5px"] == 100
    assert set(result.per_view("nn")) == {1, 2}
    example = result.examples[0]
    assert example.predicted["nn"].shape == (3, 30, 2)
    assert (example.predicted["nn"][0][:, 0] >= 3).all()  # queries only where view 0 has depth
    table = markdown_table([result])
    assert "| one-hot positions | nn | 120 | 0 |" in table and "| one-hot positions | attention | n/a" in table
    assert result.to_dict()["readouts"]["nn"]["pooled"]["acc_10px"] == 100


def test_queries_seen_in_no_other_view_are_dropped():
    sample = static_sample()
    sample["valid"][1:, :, SIZE // 2 :] = False  # right half of view 0 is seen nowhere else
    result = evaluate_correspondence(
        OneHotPositions(), [sample], CorrespondenceConfig(num_queries=1000, readouts=("nn",))
    )
    kept = result.examples[0].predicted["nn"][0]
    assert (kept[:, 0] < SIZE // 2).all()
    assert result.metrics("nn")["pairs"] == 2 * (SIZE // 2 - 3) * SIZE


def test_evaluation_without_depth_uses_the_epipolar_protocol():
    sample = static_sample()
    del sample["depth"], sample["valid"]
    sample["images"] = torch.rand(3, 3, SIZE, SIZE) * 2 - 1
    sample["cam_to_world"] = torch.stack([torch.eye(4), translated(BASELINE), translated(-BASELINE)])
    result = evaluate_correspondence(
        OneHotPositions(), [sample], CorrespondenceConfig(num_queries=10, readouts=("nn",))
    )
    assert result.protocol == "epipolar"
    assert result.metrics("nn")["epi_median_px"] == 0  # same pixel, rectified along x: on the epipolar line


def test_bad_samples_are_refused_clearly():
    sample = static_sample()
    del sample["cam_to_world"]
    with pytest.raises(ValueError, match="neither depth nor cameras"):
        evaluate_correspondence(OneHotPositions(), [sample])
    with pytest.raises(ValueError, match="no samples"):
        evaluate_correspondence(OneHotPositions(), [])
    with pytest.raises(ValueError, match="readouts"):
        CorrespondenceConfig(readouts=("knn",))


def test_results_of_both_protocols_share_one_report():
    errors = {"view": torch.tensor([1.0]), "epipolar": torch.tensor([0.5], dtype=torch.float64)}
    real = CorrespondenceResult(backbone="b", protocol="epipolar", samples=1, errors={"nn": errors})
    assert "epi median px" in markdown_table([real]) and real.metrics("nn")["acc_2px"] == 100


# ---------------------------------------------------------------- bins: how much the views move

WIDE = 48  # a larger image, so that every displacement bin gets pairs
SHIFTS_PX = (2.0, 6.0, 12.0, 20.0)  # translated views: FOCAL * x / PLANE_DEPTH px, one per default bin
ROLLS_DEG = (45.0, 100.0, 150.0)  # views rolled about the optical axis: rotation bins 30-60, 90-120, 120+


def rolled(degrees):
    angle = math.radians(degrees)
    pose = torch.eye(4)
    pose[:2, :2] = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return pose


def moving_scene():
    """A fronto-parallel plane at depth 4 seen by view 0 at the origin, four views translated along x (the
    plane moves by SHIFTS_PX) and three rolled about their optical axis (the plane stays at depth 4; each
    pixel turns about the principal point)."""
    poses = [torch.eye(4), *(translated(s * PLANE_DEPTH / FOCAL) for s in SHIFTS_PX), *(rolled(d) for d in ROLLS_DEG)]
    views = len(poses)
    K = torch.tensor([[FOCAL, 0, (WIDE - 1) / 2], [0, FOCAL, (WIDE - 1) / 2], [0, 0, 1.0]]).expand(views, 3, 3).clone()
    depth = torch.full((views, WIDE, WIDE), PLANE_DEPTH)
    valid = torch.ones(views, WIDE, WIDE, dtype=torch.bool)
    return depth, valid, K, torch.stack(poses)


def wide_pixels():
    v, u = torch.meshgrid(torch.arange(WIDE), torch.arange(WIDE), indexing="ij")
    return torch.stack([u.flatten(), v.flatten()], dim=-1).float()


def expected_motion(queries, visible):
    """Independent float64 answer: displacement (px) and rotation (deg) of every visible pair, in the order
    of score_depth_matches (by target view, then by query)."""
    centre = (WIDE - 1) / 2
    radius = np.hypot(queries[:, 0].double().numpy() - centre, queries[:, 1].double().numpy() - centre)
    displacement, rotation = [], []
    for t in range(1, 1 + len(SHIFTS_PX) + len(ROLLS_DEG)):
        seen = visible[t].numpy()
        if t <= len(SHIFTS_PX):
            moved, angle = np.full(seen.sum(), SHIFTS_PX[t - 1]), 0.0
        else:
            angle = ROLLS_DEG[t - 1 - len(SHIFTS_PX)]
            moved = 2 * radius[seen] * math.sin(math.radians(angle) / 2)  # a chord of the turn about the centre
        displacement.append(moved)
        rotation.append(np.full(seen.sum(), angle))
    return np.concatenate(displacement), np.concatenate(rotation)


def test_pairs_fall_in_the_bins_their_geometry_says():
    from muskie.eval.correspondence import DISPLACEMENT_BINS, ROTATION_BINS, binned_metrics, value_distribution

    depth, valid, K, c2w = moving_scene()
    queries = wide_pixels()
    tracks = ground_truth_tracks(queries, depth, valid, K, c2w)
    errors = score_depth_matches(tracks.target_uv, tracks, depth, valid, K, c2w)
    displacement, rotation = expected_motion(queries, tracks.visible)
    np.testing.assert_allclose(errors["displacement"].numpy(), displacement, atol=1e-4)
    np.testing.assert_allclose(errors["rotation_deg"].numpy(), rotation, atol=1e-6)

    spread = value_distribution(errors["displacement"], DISPLACEMENT_BINS)
    counts = np.histogram(displacement, bins=[0, 4, 8, 16, np.inf])[0]
    assert list(spread["counts"].values()) == counts.tolist() and list(spread["counts"]) == [
        "0-4",
        "4-8",
        "8-16",
        "16+",
    ]
    assert spread["median"] == pytest.approx(np.quantile(displacement, 0.5), abs=1e-4)
    assert spread["p90"] == pytest.approx(np.quantile(displacement, 0.9), abs=1e-4)
    by_rotation = value_distribution(errors["rotation_deg"], ROTATION_BINS)["counts"]
    per_view = tracks.visible.sum(dim=1).tolist()
    assert by_rotation == {
        "0-30": sum(per_view[1:5]),
        "30-60": per_view[5],
        "60-90": 0,
        "90-120": per_view[6],
        "120+": per_view[7],
    }
    # the translated views alone: every pair of view t in the bin of its shift
    assert binned_metrics(errors, "displacement", DISPLACEMENT_BINS)["16+"]["pairs"] >= per_view[4]


def test_perfect_matcher_scores_100_percent_in_every_bin_and_an_offset_its_length():
    from muskie.eval.correspondence import DISPLACEMENT_BINS, ROTATION_BINS, binned_metrics

    depth, valid, K, c2w = moving_scene()
    tracks = ground_truth_tracks(wide_pixels(), depth, valid, K, c2w)
    perfect = score_depth_matches(tracks.target_uv, tracks, depth, valid, K, c2w)
    # constant offsets of 4 px and 8 px (float32 pixels: lengths off the 5 and 10 px thresholds)
    offset = score_depth_matches(tracks.target_uv + torch.tensor([2.4, 3.2]), tracks, depth, valid, K, c2w)
    far = score_depth_matches(tracks.target_uv + torch.tensor([-4.8, 6.4]), tracks, depth, valid, K, c2w)
    for key, edges in (("displacement", DISPLACEMENT_BINS), ("rotation_deg", ROTATION_BINS)):
        for label, metrics in binned_metrics(perfect, key, edges).items():
            if key == "rotation_deg" and label == "60-90":
                assert metrics["pairs"] == 0 and math.isnan(metrics["epe_mean_px"])  # no camera turned that far
                continue
            assert metrics["pairs"] > 0, label
            assert metrics["epe_mean_px"] == 0 and metrics["acc_5px"] == 100 and metrics["acc_10px"] == 100
        for metrics in binned_metrics(offset, key, edges).values():
            if metrics["pairs"]:
                assert metrics["epe_mean_px"] == pytest.approx(4.0, abs=1e-5) and metrics["acc_5px"] == 100
        for metrics in binned_metrics(far, key, edges).values():
            if metrics["pairs"]:
                assert metrics["epe_mean_px"] == pytest.approx(8.0, abs=1e-5)
                assert metrics["acc_5px"] == 0 and metrics["acc_10px"] == 100


class IdentityAttention(FeatureBackbone):
    """Constant features and cross-view attention that puts all weight on the query's own cell."""

    name = "same-cell attention"
    multi_view = True

    def forward(self, images, block=-1, with_attention=False):
        b, v, _, h, w = images.shape
        cells = (h // 8) * (w // 8)
        attention = torch.eye(cells).view(1, 1, cells, 1, cells).expand(b, v, cells, v, cells) / v
        return FeatureOutput(
            features=torch.zeros(b, v, h // 8, w // 8, 1), attention=attention.contiguous() if with_attention else None
        )


def moving_sample():
    depth, valid, K, c2w = moving_scene()
    return {
        "images": torch.zeros(depth.shape[0], 3, WIDE, WIDE),
        "depth": depth,
        "valid": valid,
        "intrinsics": K,
        "cam_to_world": c2w,
        "scene": "moving",
    }


def test_identity_control_predicts_the_query_pixel_and_scores_the_displacement():
    from muskie.eval.backbones import build_backbone

    identity = build_backbone("identity")
    config = CorrespondenceConfig(num_queries=200, readouts=("nn", "attention"))
    result = evaluate_correspondence(identity, [moving_sample()], config)
    predicted = result.examples[0].predicted["nn"]
    torch.testing.assert_close(predicted[1:], predicted[0].expand_as(predicted[1:]))  # the query pixel everywhere
    errors = result.errors["nn"]
    torch.testing.assert_close(errors["error_2d"], errors["displacement"])  # "nothing moved" errs by the motion
    for t, shift in enumerate(SHIFTS_PX, start=1):
        assert result.per_view("nn")[t]["epe_mean_px"] == pytest.approx(shift, abs=1e-4)
    cosine = evaluate_correspondence(
        identity, [moving_sample()], CorrespondenceConfig(num_queries=200, nn_metric="cosine")
    )
    torch.testing.assert_close(cosine.errors["nn"]["error_2d"], errors["error_2d"])
    # a cross-view attention that keeps to the same cell scores exactly what the identity control scores
    same_cell = evaluate_correspondence(IdentityAttention(), [moving_sample()], config)
    torch.testing.assert_close(same_cell.errors["attention"]["error_2d"], errors["error_2d"], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="no argument"):
        build_backbone("identity:3")


def test_binned_results_reach_the_table_and_the_json():
    config = CorrespondenceConfig(num_queries=200, readouts=("nn",), displacement_bins=(0, 5, 10))
    result = evaluate_correspondence(OneHotPositions(), [moving_sample()], config)
    assert result.binned_keys() == ["displacement", "rotation_deg"]
    data = result.to_dict()
    assert set(data["readouts"]["nn"]["binned"]["displacement"]) == {"0-5", "5-10", "10+"}
    assert data["bins"]["displacement"] == [0, 5, 10] and data["bins"]["rotation_deg"] == [0, 30, 60, 90, 120]
    spread = data["distribution"]["displacement"]
    assert sum(spread["counts"].values()) == spread["pairs"] == data["readouts"]["nn"]["pooled"]["pairs"]
    assert data["readouts"]["nn"]["binned"]["rotation_deg"]["60-90"]["epe_mean_px"] is None  # empty bin
    table = markdown_table([result, result])
    assert "How much the views move: ground-truth displacement" in table
    assert "| all backbones | " in table  # both rows scored the same pairs
    assert "| displacement px | backbone | readout | pairs | EPE px | @5px % | @10px % |" in table
    assert "| 10+ | one-hot positions | nn |" in table and "| 60-90 |" not in table  # empty bins left out
    assert "| rotation deg | backbone | readout |" in table


def test_bins_are_checked():
    with pytest.raises(ValueError, match="displacement_bins"):
        CorrespondenceConfig(displacement_bins=(2, 4))
    with pytest.raises(ValueError, match="rotation_bins"):
        CorrespondenceConfig(rotation_bins=(0, 60, 30))
    assert CorrespondenceConfig(displacement_bins=[0, 3]).displacement_bins == (0.0, 3.0)


def test_epipolar_pairs_are_binned_by_rotation():
    sample = moving_sample()
    del sample["depth"], sample["valid"]
    sample["images"] = torch.rand(sample["images"].shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    result = evaluate_correspondence(
        OneHotPositions(), [sample], CorrespondenceConfig(num_queries=10, readouts=("nn",))
    )
    assert result.binned_keys() == ["rotation_deg"]
    counts = result.distribution("rotation_deg")["counts"]
    assert counts == {"0-30": 40, "30-60": 10, "60-90": 0, "90-120": 10, "120+": 10}
    assert "| 90-120 | one-hot positions | nn | 10 |" in markdown_table([result])


class LayeredAttention(FeatureBackbone):
    """Three blocks of cross-view attention on 8-pixel cells: blocks 0 and 1 keep every cell on itself (the
    truth for views from one camera), the last block sends every cell to the next one."""

    name = "layered attention"
    multi_view = True
    depth = 3

    def forward(self, images, block=-1, with_attention=False):
        b, v, _, h, w = images.shape
        cells = (h // 8) * (w // 8)
        keys = torch.arange(cells) if self.block_index(block) < 2 else torch.roll(torch.arange(cells), 1)
        one_hot = torch.zeros(cells, cells)
        one_hot[torch.arange(cells), keys] = 1.0
        attention = one_hot.view(1, 1, cells, 1, cells).expand(b, v, cells, v, cells) / v
        return FeatureOutput(
            features=torch.zeros(b, v, h // 8, w // 8, 1), attention=attention.contiguous() if with_attention else None
        )


def test_each_readout_reads_its_blocks_and_is_named_in_the_results():
    sample = static_sample()
    sample["valid"][0, :, :3] = True
    config = CorrespondenceConfig(num_queries=40, readouts=("attention", "attention-all", "nn-multi"), layers=(0, -1))
    result = evaluate_correspondence(LayeredAttention(), [sample], config)
    assert result.readout_blocks == {"attention": [2], "attention-all": [0, 1, 2], "nn-multi": [0, 2]}
    # the last block alone is wrong; averaged over the blocks, the two right ones win
    assert result.metrics("attention")["acc_1px"] < 100
    assert result.metrics("attention-all")["epe_mean_px"] == pytest.approx(0, abs=1e-4)
    summary = result.to_dict()
    assert summary["readout_settings"]["attention-all"]["blocks"] == [0, 1, 2]
    assert "averaged over every block" in summary["readout_settings"]["attention-all"]["reads"]
    assert summary["pool_view0"] is False
    table = markdown_table([result])
    assert "| layered attention | attention-all |" in table and "| layered attention | nn-multi |" in table
    with pytest.raises(ValueError, match="out of range"):
        CorrespondenceConfig(readouts=("nn-multi",), layers=(5,)).readout_blocks("nn-multi", 3)


class RandomAttention(FeatureBackbone):
    """Two blocks of a random, asymmetric cross-view attention on 4-pixel cells (each query row a softmax of
    its own random scores over every view's cells), seeded by the block."""

    name = "random attention"
    multi_view = True
    depth = 2

    def forward(self, images, block=-1, with_attention=False):
        b, v, _, h, w = images.shape
        cells = (h // 4) * (w // 4)
        scores = torch.randn(b, v, cells, v * cells, generator=torch.Generator().manual_seed(self.block_index(block)))
        attention = (scores / 0.2).softmax(dim=-1).view(b, v, cells, v, cells)
        return FeatureOutput(
            features=torch.zeros(b, v, h // 4, w // 4, 1), attention=attention if with_attention else None
        )


def test_attention_readouts_symmetrise_view_0s_rows_and_columns_of_the_full_map():
    """The readouts read view 0's part of the attention (``source_view=0``): their matches are those of
    ``A_0->t`` (rows of view 0's queries) and ``A_t->0`` (columns of view 0's keys) taken from the full maps."""
    backbone, sample = RandomAttention(), static_sample(views=4)
    config = CorrespondenceConfig(num_queries=30, readouts=("attention", "attention-all"))
    example = evaluate_correspondence(backbone, [sample], config).examples[0]
    queries = example.predicted["attention"][0]
    full = [backbone(sample["images"][None], block=i, with_attention=True).attention[0] for i in range(2)]

    def matches(maps):  # maps: (V, L, V, L) each
        source_to_target = mean_attention([a[0].transpose(0, 1)[1:] for a in maps])  # (T, L, L): A_0->t
        target_to_source = mean_attention([a[1:, :, 0] for a in maps])  # (T, L, L): A_t->0
        return attention_matches(source_to_target, target_to_source, (4, 4), (4, 4), queries, (SIZE, SIZE))

    assert torch.equal(example.predicted["attention"][1:], matches(full[1:]))
    assert torch.equal(example.predicted["attention-all"][1:], matches(full))
    assert not torch.equal(matches(full[:1]), matches(full[1:]))  # the blocks' attention differs


def test_pool_view0_is_off_by_default_and_recorded():
    config = CorrespondenceConfig(num_queries=30, readouts=("nn",), pool_view0=True)
    pooled = evaluate_correspondence(OneHotPositions(), [static_sample()], config)
    plain = evaluate_correspondence(OneHotPositions(), [static_sample()], CorrespondenceConfig(num_queries=30))
    assert not CorrespondenceConfig().pool_view0 and not plain.pool_view0 and pooled.pool_view0
    assert pooled.metrics("nn")["pairs"] == 3 * 30 and plain.metrics("nn")["pairs"] == 2 * 30
    assert set(pooled.per_view("nn")) == {0, 1, 2}


# ---------------------------------------------------------------- the paper's benchmarks on fixtures


def test_navi_benchmark_samples_score_the_identity_control_by_its_displacement(tmp_path):
    from test_formats_navi import make_collection

    from muskie.eval.backbones import build_backbone
    from muskie.eval.correspondence import benchmark_samples

    make_collection(tmp_path / "toy" / "multiview_00_pixel", (0, 7, 19, 33, 48, 60, 71, 80, 85))
    make_collection(tmp_path / "toy" / "wild_set", (0,))
    samples = benchmark_samples("navi", tmp_path, num_views=8, size=(32, 32))
    assert len(samples) == 1 and samples[0]["images"].shape == (8, 3, 32, 32)
    result = evaluate_correspondence(build_backbone("identity"), samples, CorrespondenceConfig(readouts=("nn",)))
    errors = result.errors["nn"]
    assert errors["error_2d"].numel() > 0 and errors["displacement"].max() > 1  # the views do move
    torch.testing.assert_close(errors["error_2d"], errors["displacement"])


def scannet_like_format(root):
    """A stand-in for the ScanNet adapter: scenes of numbered frames color/<n>.jpg, depth/<n>.png (mm), all
    from one camera, so every pixel maps to itself."""
    from muskie.data.formats import DatasetFormat
    from muskie.data.scene import Frame, Scene

    numbers = {"scene0000_00": [0, 40, 50, 60, 70, 80, 90, 100, 110, 200], "scene0001_00": [0, 50, 100]}
    for scene, frames in numbers.items():
        for folder in ("color", "depth"):
            (root / scene / folder).mkdir(parents=True)
        for n in frames:
            Image.fromarray(np.full((12, 16, 3), n % 255, np.uint8)).save(root / scene / "color" / f"{n}.jpg")
            Image.fromarray(np.full((12, 16), 2000, np.uint16)).save(root / scene / "depth" / f"{n}.png")

    def read_scene(root, scene_id, cameras=True, depth=True):
        K = np.array([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]])
        frames = [
            Frame(
                image_path=root / scene_id / "color" / f"{n}.jpg",
                width=16,
                height=12,
                intrinsics=K,
                cam_to_world=np.eye(4),
                depth_path=root / scene_id / "depth" / f"{n}.png",
                depth_scale=1e-3,
            )
            for n in numbers[scene_id]
        ]
        return Scene(name=scene_id, root=root / scene_id, frames=frames, metric=True)

    return DatasetFormat(
        name="scannet", title="ScanNet", find_scenes=lambda root: sorted(numbers), read_scene=read_scene
    )


def test_scannet_benchmark_takes_each_scenes_first_window(tmp_path, monkeypatch):
    from muskie.data.formats import FORMATS
    from muskie.eval.backbones import build_backbone
    from muskie.eval.correspondence import benchmark_samples

    monkeypatch.setitem(FORMATS, "scannet", scannet_like_format(tmp_path))
    samples = benchmark_samples("scannet", tmp_path, num_views=8, size=(12, 16))
    assert [s["scene"] for s in samples] == ["scene0000_00"]  # scene0001_00 has no 8 frames 35 apart
    # the window starts at frame 40: view 0 is frame 40 (grey 40), the last frame 110
    assert samples[0]["images"][0].add(1).mul(127.5).mean().item() == pytest.approx(40, abs=2)
    assert samples[0]["images"][-1].add(1).mul(127.5).mean().item() == pytest.approx(110, abs=2)
    # one camera: the identity control is a perfect matcher
    result = evaluate_correspondence(build_backbone("identity"), samples, CorrespondenceConfig(readouts=("nn",)))
    metrics = result.metrics("nn")
    assert metrics["acc_1px"] == 100 and metrics["epe_mean_px"] == 0 and metrics["acc3d_1cm"] == 100
    with pytest.raises(ValueError, match="unknown benchmark"):
        benchmark_samples("kitti", tmp_path)
