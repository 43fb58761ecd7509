"""Frozen-feature probes: metrics against float64 references, known answers (features that carry the ground
truth reach it, constant features score the closed-form constant prediction), determinism, and the report."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from muskie.eval.backbones import FeatureBackbone, FeatureOutput
from muskie.eval.probes import (
    CONSTANT_NAME,
    DenseProbe,
    ProbeConfig,
    align_depth_median,
    angular_loss,
    constant_features,
    depth_metrics,
    evaluate_probes,
    extract_features,
    load_probe_samples,
    normal_metrics,
    predict,
    probe_features,
    probe_targets,
    run_probes,
    scale_invariant_log_loss,
    train_probe,
    unit_vectors,
)

SIZE = (32, 32)


@pytest.fixture(scope="module")
def samples():
    """6 train and 3 test samples of 2 views at 32x32 (disjoint splits)."""
    return load_probe_samples("train", 6, 2, SIZE), load_probe_samples("test", 3, 2, SIZE)


def ground_truth_grid(targets, cell: int) -> torch.Tensor:
    """``(N, 4, H/cell, W/cell)``: log-depth and normals averaged over ``cell x cell`` pixels (rooms are
    closed: every pixel is valid)."""
    assert targets.valid.all()
    return F.avg_pool2d(torch.cat([targets.depth.log()[:, None], targets.normals], dim=1), cell)


# ---------------------------------------------------------------- metrics against float64 references


def reference_depth_metrics(pred, true, valid):
    abs_rel, delta1 = [], []
    for p, t, v in zip(pred, true, valid, strict=True):
        if not v.any():
            continue
        p, t = p[v].astype(np.float64), t[v].astype(np.float64)
        p = p * np.median(t) / np.median(p)
        abs_rel.append(np.mean(np.abs(p - t) / t))
        delta1.append(100 * np.mean(np.maximum(p / t, t / p) < 1.25))
    return {"abs_rel": np.mean(abs_rel), "delta1": np.mean(delta1)}


def reference_normal_metrics(pred, true, valid):
    out = {"angle_mean": [], "within_11_25": [], "within_22_5": [], "within_30": []}
    for p, t, v in zip(pred, true, valid, strict=True):
        p, t = (
            p.reshape(3, -1).T[v.reshape(-1)].astype(np.float64),
            t.reshape(3, -1).T[v.reshape(-1)].astype(np.float64),
        )
        p = p / np.linalg.norm(p, axis=1, keepdims=True)
        angle = np.degrees(np.arccos(np.clip((p * t).sum(1), -1, 1)))
        out["angle_mean"].append(angle.mean())
        for key, threshold in (("within_11_25", 11.25), ("within_22_5", 22.5), ("within_30", 30.0)):
            out[key].append(100 * np.mean(angle < threshold))
    return {k: np.mean(v) for k, v in out.items()}


def test_depth_metrics_match_a_float64_reference_on_hand_made_arrays():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.5, 6.0, (3, 5, 7)).astype(np.float32)
    pred = (true * rng.uniform(0.7, 1.4, true.shape) * np.array([2.0, 0.3, 1.0])[:, None, None]).astype(np.float32)
    valid = rng.uniform(size=true.shape) > 0.3
    valid[2] = False  # a view without valid pixels is left out
    valid[1, 0, :4] = True  # an even count in one view, an odd one elsewhere: medians as numpy's
    got = depth_metrics(torch.from_numpy(pred), torch.from_numpy(true), torch.from_numpy(valid))
    expected = reference_depth_metrics(pred, true, valid)
    assert got.keys() == expected.keys()
    for key in got:
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key


def test_depth_metrics_by_hand():
    true = torch.tensor([[[1.0, 2.0, 4.0, 8.0]]])
    valid = torch.ones(1, 1, 4, dtype=torch.bool)
    # a global scale is undone: perfect
    assert depth_metrics(3 * true, true, valid) == {"abs_rel": 0.0, "delta1": 100.0}
    # both medians are 3 (the mean of the middle two), so no rescaling: ratios 1, 1, 1, 2
    pred = torch.tensor([[[1.0, 2.0, 4.0, 16.0]]])
    assert depth_metrics(pred, true, valid) == {"abs_rel": pytest.approx(1 / 4), "delta1": 75.0}
    # median alignment ignores invalid pixels; a view with none is unscaled
    aligned = align_depth_median(
        torch.tensor([[[2.0, 100.0]], [[5.0, 5.0]]]),
        torch.tensor([[[1.0, 1.0]], [[1.0, 1.0]]]),
        torch.tensor([[[True, False]], [[False, False]]]),
    )
    torch.testing.assert_close(aligned, torch.tensor([[[1.0, 50.0]], [[5.0, 5.0]]]))
    nothing = depth_metrics(true, true, torch.zeros_like(valid))
    assert math.isnan(nothing["abs_rel"]) and math.isnan(nothing["delta1"])


def test_normal_metrics_match_a_float64_reference_on_hand_made_arrays():
    rng = np.random.default_rng(1)
    true = rng.normal(size=(3, 3, 6, 5))
    true /= np.linalg.norm(true, axis=1, keepdims=True)
    pred = true + rng.normal(scale=0.4, size=true.shape)  # not unit: the metric normalises
    valid = rng.uniform(size=(3, 6, 5)) > 0.2
    got = normal_metrics(torch.from_numpy(pred).float(), torch.from_numpy(true).float(), torch.from_numpy(valid))
    expected = reference_normal_metrics(pred.astype(np.float32), true.astype(np.float32), valid)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-6), key
    assert 5 < got["angle_mean"] < 60 and 0 < got["within_11_25"] < got["within_22_5"] < got["within_30"] < 100


def test_normal_metrics_by_hand():
    true = torch.zeros(1, 3, 1, 4)
    true[:, 2] = 1.0
    pred = torch.zeros(1, 3, 1, 4)
    for column, degrees in enumerate((0.0, 10.0, 25.0, 90.0)):
        pred[0, 0, 0, column], pred[0, 2, 0, column] = math.sin(math.radians(degrees)), math.cos(math.radians(degrees))
    got = normal_metrics(pred, true, torch.ones(1, 1, 4, dtype=torch.bool))
    assert got["angle_mean"] == pytest.approx(125 / 4, abs=1e-4)
    assert (got["within_11_25"], got["within_22_5"], got["within_30"]) == (50.0, 50.0, 75.0)


def test_losses_are_zero_at_the_truth_and_the_depth_loss_ignores_scale():
    depth = torch.rand(2, 4, 5) + 0.5
    valid = torch.rand(2, 4, 5) > 0.2
    assert scale_invariant_log_loss(depth.log(), depth, valid) < 1e-5
    shifted = scale_invariant_log_loss(depth.log() + 0.3, depth, valid, si_lambda=1.0)
    assert shifted < 1e-3  # sqrt of a float32 cancellation
    assert scale_invariant_log_loss(depth.log() + 0.3, depth, valid, si_lambda=0.0) == pytest.approx(0.3, rel=1e-4)
    normals = unit_vectors(torch.randn(2, 3, 4, 5))
    torch.testing.assert_close(normals.norm(dim=1), torch.ones(2, 4, 5))
    assert angular_loss(normals, normals, valid) < 1e-2  # the cosine clamp keeps it just above 0
    assert angular_loss(-normals, normals, valid) == pytest.approx(math.pi, abs=1e-2)


# ---------------------------------------------------------------- known answers


def test_features_that_carry_the_ground_truth_reach_it(samples):
    train, test = (probe_targets(s) for s in samples)
    config = ProbeConfig(head="linear", steps=150, batch_size=8, lr=3e-2, warmup_steps=10)
    # one cell per pixel: no resolution limit, and a linear probe can express the truth exactly
    depth, normals = probe_features(
        "oracle", ground_truth_grid(train, 1), train, ground_truth_grid(test, 1), test, config
    )
    assert depth.metrics["abs_rel"] < 1e-3 and depth.metrics["delta1"] == 100.0
    assert normals.metrics["angle_mean"] < 0.5 and normals.metrics["within_11_25"] == 100.0


@pytest.mark.parametrize("head", ["linear", "conv"])
def test_coarse_ground_truth_features_reach_the_resolution_limit(samples, head):
    """On 8-pixel cells (a tiny Muskie's grid) the best a probe that upsamples bilinearly can do is about the
    bilinear upsampling of the cell-averaged truth: the probe gets within a small margin of it (the conv
    head, which sees a 3x3 neighbourhood, may beat it at edges)."""
    train, test = (probe_targets(s) for s in samples)
    coarse = ground_truth_grid(test, 8)
    limit = F.interpolate(coarse, size=SIZE, mode="bilinear", align_corners=False)
    depth_limit = depth_metrics(limit[:, 0].exp(), test.depth, test.valid)
    normal_limit = normal_metrics(limit[:, 1:], test.normals, test.valid)
    assert depth_limit["abs_rel"] < 0.1 and normal_limit["angle_mean"] < 20  # the limit is not trivial ...
    config = ProbeConfig(head=head, steps=200, batch_size=8, lr=1e-2, warmup_steps=10)
    depth, normals = probe_features("oracle", ground_truth_grid(train, 8), train, coarse, test, config)
    # ... and the probe reaches it: AbsRel within 0.01, mean angle within 2 degrees
    assert depth.metrics["abs_rel"] < depth_limit["abs_rel"] + 0.01
    assert depth.metrics["delta1"] > depth_limit["delta1"] - 2.0
    assert normals.metrics["angle_mean"] < normal_limit["angle_mean"] + 2.0


def test_constant_features_score_the_best_constant_prediction(samples):
    train, test = (probe_targets(s) for s in samples)
    # depth: after alignment any constant is the per-view median, whatever the probe learnt (closed form)
    config = ProbeConfig(tasks=("depth",), steps=20, batch_size=8, lr=1e-2, warmup_steps=2)
    (depth,) = probe_features(
        CONSTANT_NAME, constant_features(len(train.depth)), train, constant_features(len(test.depth)), test, config
    )
    closed_form = depth_metrics(torch.ones_like(test.depth), test.depth, test.valid)
    reference = reference_depth_metrics(np.ones(test.depth.shape), test.depth.numpy(), test.valid.numpy())
    assert closed_form["abs_rel"] == pytest.approx(reference["abs_rel"], rel=1e-9)
    assert depth.metrics["abs_rel"] == pytest.approx(closed_form["abs_rel"], rel=1e-5)
    assert depth.metrics["delta1"] == pytest.approx(closed_form["delta1"], abs=1e-6)
    # normals: one direction for every pixel, which should be the one with the least mean angle to the
    # training normals: found here by brute force (float64, on 2000 of the pixels), over 4000 directions
    # spread on the sphere, then on a 0.1-degree grid within 3 degrees of the best of them
    config = ProbeConfig(tasks=("normals",), steps=150, batch_size=8, lr=1e-2, warmup_steps=10, hidden=16)
    probe, _ = train_probe(torch.zeros(len(train.depth), 1, 1, 1), train, "normals", config)  # standardised
    prediction = predict(probe, torch.zeros(1, 1, 1, 1), SIZE, "normals")[0, :, 0, 0].double().numpy()
    train_normals = train.normals.permute(0, 2, 3, 1)[train.valid].double().numpy()
    sample = train_normals[:: max(1, len(train_normals) // 2000)]

    def mean_angle(directions):
        return np.degrees(np.arccos(np.clip(sample @ directions.T, -1, 1))).mean(0)

    golden, k = math.pi * (3 - math.sqrt(5)), np.arange(4000)
    z = 1 - 2 * (k + 0.5) / len(k)
    spread = np.stack([np.sqrt(1 - z**2) * np.cos(golden * k), np.sqrt(1 - z**2) * np.sin(golden * k), z], 1)
    best = spread[mean_angle(spread).argmin()]
    e1 = np.cross(best, [1.0, 0, 0] if abs(best[0]) < 0.9 else [0, 1.0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(best, e1)
    offsets = np.radians(np.linspace(-3, 3, 61))
    local = best + offsets[:, None, None] * e1 + offsets[None, :, None] * e2
    local = (local / np.linalg.norm(local, axis=-1, keepdims=True)).reshape(-1, 3)
    best_angle = mean_angle(local).min()
    probe_angle = mean_angle(prediction[None])[0]
    assert best_angle - 0.01 < probe_angle < best_angle + 0.1


def test_a_constant_feature_map_gives_a_spatially_constant_prediction():
    for head in ("linear", "conv"):
        torch.manual_seed(0)
        probe = DenseProbe(5, 3, head=head, hidden=8)
        out = probe(torch.full((2, 5, 4, 6), 0.7), (16, 24))
        assert out.shape == (2, 3, 16, 24)
        torch.testing.assert_close(out, out[:, :, :1, :1].expand_as(out), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- the pipeline


class GroundTruthBackbone(FeatureBackbone):
    """Features that carry the truth: log-depth and normals of the view averaged over 4x4 cells, found by
    looking the image up among known samples (a test double: no real backbone can see depth)."""

    name = "ground truth"
    depth = 2

    def __init__(self, samples):
        super().__init__()
        self.known = [(s["images"], ground_truth_grid(probe_targets([s]), 4)) for s in samples]

    def forward(self, images, block=-1, with_attention=False):
        self.block_index(block)
        out = []
        for views in images:
            match = [grid for known, grid in self.known if torch.equal(known, views)]
            assert match, "unknown image"
            out.append(match[0].permute(0, 2, 3, 1) * (1.0 if block in (-1, 1) else 2.0))
        return FeatureOutput(features=torch.stack(out))


def test_evaluate_probes_extracts_once_and_is_deterministic(samples):
    train, test = samples
    backbone = GroundTruthBackbone(train + test)
    features = extract_features(backbone, train, blocks=(0, -1), batch_size=3)
    assert features.shape == (12, 8, 8, 8)  # 6 samples x 2 views; 4 channels x 2 blocks; 32 / 4 cells
    torch.testing.assert_close(features[:, :4], 2 * features[:, 4:])
    config = ProbeConfig(steps=60, batch_size=4, lr=1e-2, warmup_steps=5, hidden=16)
    first = evaluate_probes(backbone, train, test, config)
    again = evaluate_probes(backbone, train, test, config)
    assert [r.metrics for r in first] == [r.metrics for r in again]
    assert [r.train_loss for r in first] == [r.train_loss for r in again]
    other = evaluate_probes(backbone, train, test, dataclasses.replace(config, seed=1))
    assert [r.metrics for r in other] != [r.metrics for r in first]
    depth, normals = first
    assert (depth.task, normals.task) == ("depth", "normals") and depth.grid == (8, 8) and depth.channels == 4
    assert depth.metrics["abs_rel"] < 0.1 and normals.metrics["angle_mean"] < 25


def test_run_probes_writes_the_report_with_every_setting(tmp_path):
    config = ProbeConfig(
        tasks=("depth",),
        num_samples=2,
        num_test_samples=1,
        num_views=2,
        size=(16, 16),
        steps=5,
        batch_size=2,
        hidden=8,
        warmup_steps=1,
    )
    results = run_probes(["rand=random:tiny"], tmp_path, config, device="cpu")
    assert [(r.backbone, r.task) for r in results] == [(CONSTANT_NAME, "depth"), ("rand", "depth")]
    data = json.loads((tmp_path / "probes.json").read_text())
    assert data["settings"]["config"] == config.to_dict()
    assert data["settings"]["specs"] == ["rand=random:tiny"] and data["settings"]["device"] == "cpu"
    assert (data["settings"]["train_views"], data["settings"]["test_views"]) == (4, 2)
    assert data["results"][1]["grid"] == [2, 2] and data["results"][1]["channels"] == 128
    assert set(data["results"][1]["metrics"]) == {"abs_rel", "delta1"}
    markdown = (tmp_path / "probes.md").read_text()
    assert "| rand |" in markdown and "normals" not in markdown.split("\n", 1)[1]


def test_config_refuses_bad_settings():
    for bad in (
        {"tasks": ("depth", "colour")},
        {"tasks": ()},
        {"head": "dpt"},
        {"steps": 0},
        {"si_lambda": 1.5},
        {"num_test_samples": 0},
        {"blocks": ()},
    ):
        with pytest.raises(ValueError):
            ProbeConfig(**bad)


def test_depth_probes_run_on_samples_without_normals(samples):
    train, test = ([{k: v for k, v in s.items() if k != "normals"} for s in split] for split in samples)
    targets = probe_targets(train)
    assert targets.normals is None
    config = ProbeConfig(tasks=("depth",), steps=3, batch_size=4, hidden=8, warmup_steps=1)
    (result,) = evaluate_probes(GroundTruthBackbone(samples[0] + samples[1]), train, test, config)
    assert result.task == "depth" and 0 <= result.metrics["abs_rel"]
    with pytest.raises(ValueError, match="normals"):
        evaluate_probes(
            GroundTruthBackbone(samples[0] + samples[1]), train, test, dataclasses.replace(config, tasks=("normals",))
        )
    with pytest.raises(ValueError, match="depth"):
        probe_targets([{"images": s["images"], "scene": "x"} for s in train])
