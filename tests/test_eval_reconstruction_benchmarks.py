"""The 7-Scenes and NRGBD reconstruction benchmarks: keyframes by number, the ground truth scored through the
shared scoring (AUC 100, zero point error: on NRGBD scenes built in the test and on the real 7-Scenes sample),
per-scene against pooled figures, and the command line's settings and errors."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import muskie
from fixtures import write_nrgbd_scene

from muskie.data.scene import Frame
from muskie.data.selection import stride_keyframes
from muskie.eval.reconstruction_benchmarks import (
    BENCHMARKS,
    benchmark_samples,
    evaluate_benchmark,
    get_benchmark,
    oracle_prediction,
    window_views,
)

SAMPLES = Path(os.environ.get("MUSKIE_FORMAT_SAMPLES", Path(__file__).resolve().parents[2] / "shared/data/formats"))
SIZE = (24, 32)


def frames(names):
    return [Frame(Path(name), 640, 480) for name in names]


def test_keyframes_are_every_stride_th_frame_by_number():
    # a 7-Scenes sequence of 1000 frames at the sparse stride: CUT3R's range(1000)[::200]
    sequence = frames(f"frame-{i:06d}.color.png" for i in range(1000))
    assert stride_keyframes(sequence, BENCHMARKS["7scenes-sparse"].stride) == [0, 200, 400, 600, 800]
    assert len(stride_keyframes(sequence, BENCHMARKS["7scenes-dense"].stride)) == 25
    # NRGBD names are not padded (img11 sorts before img2 as text); keyframe 10 has no pose: left out, not
    # replaced by a neighbour
    nrgbd = frames(f"img{i}.png" for i in (0, 1, 11, 2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15))
    assert [nrgbd[i].image_path.name for i in stride_keyframes(nrgbd, 5)] == ["img0.png", "img5.png", "img15.png"]
    assert {b.name: (b.stride, b.window) for b in BENCHMARKS.values()} == {
        "7scenes-sparse": (200, None),
        "7scenes-dense": (40, None),
        "nrgbd-sparse": (500, None),
        "nrgbd-dense": (100, None),
        # the authors' release: 8 x its expand_ratio of 8 (7-Scenes) and 16 (NRGBD) frames either side
        "7scenes-release": (None, 64),
        "nrgbd-release": (None, 128),
    }
    assert {(b.samples, b.views) for b in BENCHMARKS.values() if b.window} == {(50, 8)}


def test_window_views_are_distinct_frames_near_a_uniform_anchor():
    rng = np.random.default_rng(0)
    anchors = []
    for _ in range(2000):
        positions = window_views(100, 5, 4, rng)
        anchor, others = positions[0], positions[1:]
        anchors.append(anchor)
        assert len(set(positions)) == 4
        assert all(max(0, anchor - 5) <= p < min(100, anchor + 5) for p in others)
    # the anchor covers the whole sequence evenly (each tenth about 200 of 2000 draws)
    assert np.histogram(anchors, bins=10, range=(0, 100))[0].min() > 150
    # at the start of a sequence the window is clipped: an anchor at 0 draws from 1..4
    assert set(window_views(100, 5, 5, FixedAnchor(0))[1:]) == {1, 2, 3, 4}
    assert window_views(10, 3, 4, np.random.default_rng(7)) == window_views(10, 3, 4, np.random.default_rng(7))
    with pytest.raises(ValueError, match="3 frames, fewer than the 4 views"):
        window_views(3, 5, 4, rng)
    with pytest.raises(ValueError, match="2 frames within 2 of frame position 0, fewer than 4"):
        window_views(10, 2, 4, FixedAnchor(0))


class FixedAnchor:
    """A generator whose anchor draw is fixed and whose other draws are numpy's."""

    def __init__(self, anchor: int):
        self.anchor, self.rng = anchor, np.random.default_rng(0)

    def integers(self, high):
        return self.anchor

    def choice(self, *args, **kwargs):
        return self.rng.choice(*args, **kwargs)


def test_cli_oracle_on_the_release_window_benchmark(tmp_path):
    """Samples of 8 frames (6, not the benchmark's 50) from the one NRGBD scene long enough (the short one left
    out and said): the ground truth scores AUC 100 and zero point error on every sample, with the draw's
    settings recorded."""
    root = tmp_path / "nrgbd"
    write_nrgbd_scene(root / "long", 10)
    write_nrgbd_scene(root / "short", 5)
    out = tmp_path / "out"
    result = muskie(
        "recon", "eval", "--oracle", "--benchmark", "nrgbd-release", "--scenes", root, "--size", 24, 32,
        "--seed", 3, "--samples", 6, "--out", out,
    )  # fmt: skip
    assert "| pooled | 48 | 168 | 100.00 | 100.00 | 100.00 |" in result.stdout
    report = json.loads((out / "recon_eval.json").read_text())
    settings, scenes = report["settings"], report["results"]["scenes"]
    assert settings["seed"] == 3 and "within 128 frame positions" in settings["selection"]
    assert settings["left_out"] == "short (5 frame(s), fewer than 8)" and "keyframe_stride" not in settings
    assert list(scenes) == [f"long #{i}" for i in range(6)]
    assert settings["samples"] == 6 and settings["samples_note"] == "overridden: the benchmark's is 50"
    for row in (*scenes.values(), report["results"]["pooled"]):
        assert row["auc@30"] == 100.0 and row["accuracy"] < 1e-6 and row["completeness"] < 1e-6
    assert all(len(set(row["keyframes"])) == 8 for row in scenes.values())


@pytest.fixture(scope="module")
def nrgbd_root(tmp_path_factory):
    """Scene ``a``: frames 0-6, frame 4 without pose (keyframes 0, 2, 6 at stride 2: 3 pairs); scene ``b``:
    frames 0-7, frame 3 without pose (keyframes 0, 2, 4, 6: 6 pairs)."""
    root = tmp_path_factory.mktemp("nrgbd")
    write_nrgbd_scene(root / "a", 7, no_pose=(4,))
    write_nrgbd_scene(root / "b", 8, no_pose=(3,))
    return root


@pytest.fixture(scope="module")
def nrgbd_samples(nrgbd_root):
    with pytest.warns(UserWarning, match="skipped 1 frame"):
        samples, left_out = benchmark_samples(get_benchmark("nrgbd-dense"), nrgbd_root, SIZE, stride=2)
    assert left_out == {}
    return samples


def test_the_oracle_scores_auc_100_and_zero_error_per_scene_and_pooled(nrgbd_samples):
    assert [s["keyframes"] for s in nrgbd_samples] == [[0, 2, 6], [0, 2, 4, 6]]
    result = evaluate_benchmark(oracle_prediction, nrgbd_samples)
    for row in (*result["scenes"].values(), result["mean_over_scenes"], result["pooled"]):
        assert row["auc@5"] == row["auc@30"] == 100.0
        for name in ("accuracy", "completeness", "l1", "accuracy_median", "completeness_median"):
            assert row[name] < 1e-9
        assert row["normal_consistency"] == pytest.approx(1.0)
    assert result["pooled"]["pairs"] == 9 and result["pooled"]["views"] == 7


def test_a_similar_copy_of_the_truth_scores_the_same(nrgbd_samples):
    """Poses and points in another world frame and scale: relative rotations and translation directions are
    the truth's, and Umeyama + ICP undo the similarity."""
    angle = np.radians(50.0)
    move = torch.eye(4, dtype=torch.float64)
    move[:3, :3] = torch.tensor([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    move[:3, 3] = torch.tensor([1.0, -2.0, 0.5])

    def moved(sample):
        poses, points = oracle_prediction(sample)
        poses = move @ poses
        poses[:, :3, 3] *= 0.25
        return poses, 0.25 * (points @ move[:3, :3].T + move[:3, 3])

    pooled = evaluate_benchmark(moved, nrgbd_samples)["pooled"]
    assert pooled["auc@5"] == 100.0 and pooled["accuracy"] < 1e-6 and pooled["l1"] < 1e-6


def test_per_scene_mean_and_pooled_figures_differ_as_they_must(nrgbd_samples):
    """Scene a predicted exactly (AUC 100 over 3 pairs), scene b with one pose for every view (translation
    errors 90 degrees: AUC 0 over 6 pairs): the mean over scenes is 50, the pooled AUC 3 / 9 = 33.3."""

    def half(sample):
        poses, points = oracle_prediction(sample)
        return (poses if sample["scene"] == "a" else torch.eye(4, dtype=torch.float64).expand_as(poses)), points

    result = evaluate_benchmark(half, nrgbd_samples)
    assert [result["scenes"][s]["auc@30"] for s in ("a", "b")] == [100.0, 0.0]
    assert result["mean_over_scenes"]["auc@30"] == pytest.approx(50.0)
    assert result["pooled"]["auc@30"] == pytest.approx(100.0 / 3)


def test_cli_oracle_on_the_real_7scenes_sample(tmp_path):
    """Both sequences of the real sample (its TestSplit rewritten to list them), every frame a keyframe,
    raw depth registered in memory: AUC 100 and zero point error, the override recorded."""
    if not (SAMPLES / "7scenes" / "stairs" / "seq-01").is_dir():
        pytest.skip(f"7-Scenes sample not found at {SAMPLES} (set MUSKIE_FORMAT_SAMPLES to shared/data/formats)")
    root = tmp_path / "7scenes"
    shutil.copytree(SAMPLES / "7scenes" / "stairs", root / "stairs")
    (root / "stairs" / "TestSplit.txt").write_text("sequence1\nsequence2\n")
    out = tmp_path / "out"
    result = muskie(
        "recon",
        "eval",
        "--oracle",
        "--benchmark",
        "7scenes-sparse",
        "--scenes",
        root,
        "--stride",
        1,
        "--register-depth",
        "--size",
        48,
        64,
        "--out",
        out,
    )
    assert "| pooled | 6 | 6 | 100.00 | 100.00 | 100.00 |" in result.stdout
    report = json.loads((out / "recon_eval.json").read_text())
    assert report["settings"]["keyframe_stride"] == 1 and "overridden" in report["settings"]["stride_note"]
    assert report["settings"]["predictor"].startswith("oracle") and report["settings"]["left_out"] == "none"
    for row in (*report["results"]["scenes"].values(), report["results"]["pooled"]):
        assert row["auc@30"] == 100.0 and row["accuracy"] < 1e-6 and row["completeness"] < 1e-6
    assert list(report["results"]["scenes"]) == ["stairs/seq-01", "stairs/seq-02"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--oracle", "--scenes", "synthetic", "--size", 16, 16],
            "--oracle, --stride and --register-depth need --benchmark",
        ),
        (["--oracle", "--benchmark", "nrgbd-dense", "--size", 16, 16], "needs --scenes ROOT"),
        (["--oracle", "--benchmark", "nrgbd-dense", "--scenes", "/nonexistent"], "--oracle needs --size H W"),
        (
            ["--oracle", "--benchmark", "nrgbd-dense", "--scenes", "/nonexistent", "--precision", "bf16"],
            "--precision does not apply to --oracle",
        ),
        (
            ["--oracle", "--benchmark", "nrgbd-dense", "--scenes", "/nonexistent", "--size", 16, 16],
            "/nonexistent: no such",
        ),
        (
            [
                "--oracle",
                "--benchmark",
                "7scenes-sparse",
                "--scenes",
                SAMPLES / "7scenes",
                "--stride",
                1,
                "--size",
                16,
                16,
            ],
            "no colour-registered .depth.proj.png",
        ),
        (
            ["--oracle", "--benchmark", "7scenes-sparse", "--scenes", SAMPLES / "7scenes", "--size", 16, 16],
            "no 7-Scenes sequence has 2 keyframes at stride 200",
        ),
        (
            ["--oracle", "--benchmark", "7scenes-release", "--scenes", SAMPLES / "7scenes", "--stride", 2],
            "--stride does not apply to --benchmark 7scenes-release",
        ),
        (
            ["--oracle", "--benchmark", "nrgbd-dense", "--scenes", "/nonexistent", "--samples", 3],
            "--samples does not apply to --benchmark nrgbd-dense",
        ),
        (
            ["--oracle", "--benchmark", "7scenes-release", "--scenes", SAMPLES / "7scenes", "--size", 16, 16],
            "no 7-Scenes sequence has 8 frames",
        ),
    ],
)
def test_benchmark_mistakes_exit_2_with_one_line(args, message, tmp_path, capsys):
    from muskie.cli.main import main

    if SAMPLES / "7scenes" in args and not (SAMPLES / "7scenes").is_dir():
        pytest.skip(f"7-Scenes sample not found at {SAMPLES} (set MUSKIE_FORMAT_SAMPLES to shared/data/formats)")
    assert main(["recon", "eval", *map(str, args), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_a_model_is_scored_on_every_keyframe_of_a_sequence_in_one_pass(nrgbd_samples):
    from muskie.eval.reconstruction_benchmarks import model_predictor
    from muskie.model import MuskieBackbone, MuskieConfig
    from muskie.recon.config import ReconModelConfig
    from muskie.recon.model import ReconModel

    torch.manual_seed(0)
    backbone = MuskieBackbone(MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=8))
    model = ReconModel(backbone, ReconModelConfig(dpt_dim=8, camera_dim=8))
    seen = []
    predict = model_predictor(model)
    result = evaluate_benchmark(lambda sample: seen.append(sample["images"].shape) or predict(sample), nrgbd_samples)
    assert seen == [(3, 3, *SIZE), (4, 3, *SIZE)]
    pooled = result["pooled"]
    assert pooled["pairs"] == 9 and 0 <= pooled["auc@30"] <= 100
    assert all(np.isfinite(pooled[k]) and pooled[k] > 0 for k in ("accuracy", "completeness", "l1"))
