"""``muskie recon train | eval | predict`` end to end on tiny models and tiny synthetic scenes."""

import json

import numpy as np
import pytest
from cli_runner import muskie
from fixtures import TINY_RECON_RUN
from PIL import Image

from muskie.data.sources import read_colmap_scene, read_transforms_json
from muskie.recon.ply import read_ply

# fp32 whatever the CPU: `auto` would train bf16 where the CPU has it, and the checkpoint would depend on the machine
TINY = [
    "--set",
    "model.backbone_overrides={embed_dim: 32, depth: 2, num_heads: 2}",
    "--set",
    "precision=fp32",
    *TINY_RECON_RUN,
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("recon") / "run"
    out = muskie("recon", "train", "--out", run, "--steps", 2, *TINY)
    assert "finished at step 2/2" in out.stdout
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert "backbone_overrides" in (run / "config.yaml").read_text()
    return run / "checkpoint-last.pt"


def test_eval_writes_markdown_and_json(checkpoint, tmp_path):
    out = muskie(
        "recon",
        "eval",
        "--checkpoint",
        checkpoint,
        "--out",
        tmp_path,
        "--samples",
        2,
        "--views",
        3,
        "--synthetic-scenes",
        2,
        "--threads",
        1,
    )
    assert "| synthetic-test-rig | 2 | 3 | 16x16 |" in out.stdout
    table = json.loads((tmp_path / "recon_eval.json").read_text())["results"]["synthetic-test-rig"]
    assert table["pairs"] == 6 and 0 <= table["auc@30"] <= 100
    assert all(np.isfinite(table[k]) for k in ("accuracy", "completeness", "overall", "l1"))
    assert "auc@30" in (tmp_path / "recon_eval.md").read_text()


def test_eval_at_bf16_records_it_and_scores_the_same_samples(checkpoint, tmp_path):
    rows = {}
    for precision in ("fp32", "bf16"):
        args = ["--samples", 2, "--views", 3, "--synthetic-scenes", 2, "--threads", 1, "--precision", precision]
        muskie("recon", "eval", "--checkpoint", checkpoint, "--out", tmp_path / precision, *args)
        report = json.loads((tmp_path / precision / "recon_eval.json").read_text())
        assert report["meta"]["precision"] == precision and report["meta"]["device"] == "cpu"
        rows[precision] = report["results"]["synthetic-test-rig"]
    assert rows["fp32"]["pairs"] == rows["bf16"]["pairs"] == 6
    assert 0 < abs(rows["bf16"]["l1"] - rows["fp32"]["l1"]) < 0.05 * rows["fp32"]["l1"], "bf16 rounds, nothing more"


def test_eval_on_the_validation_split_scores_other_scenes(checkpoint, tmp_path):
    rows = {}
    for split in ("val", "test"):
        muskie(
            "recon",
            "eval",
            "--checkpoint",
            checkpoint,
            "--out",
            tmp_path / split,
            "--samples",
            2,
            "--views",
            3,
            "--synthetic-scenes",
            2,
            "--synthetic-split",
            split,
            "--threads",
            1,
        )
        results = json.loads((tmp_path / split / "recon_eval.json").read_text())["results"]
        rows[split] = results[f"synthetic-{split}-rig"]
    assert rows["val"]["l1"] != rows["test"]["l1"], "the two splits render different scenes"


def test_predict_on_images_written_by_synth(checkpoint, tmp_path):
    muskie("synth", "--out", tmp_path / "scenes", "--scenes", 1, "--frames", 3, "--height", 16, "--width", 32)
    (scene,) = (tmp_path / "scenes").iterdir()
    muskie("recon", "predict", "--checkpoint", checkpoint, "--images", scene / "images", "--out", tmp_path / "pred")
    cameras = read_transforms_json(tmp_path / "pred")
    assert len(cameras) == 3 and cameras.has_cameras
    assert (cameras.frames[0].width, cameras.frames[0].height) == (16, 8)  # aspect 1:2, long side 16 as trained
    header = (tmp_path / "pred" / "points.ply").read_bytes().split(b"end_header")[0].decode()
    assert "element vertex 384" in header  # 3 views x 8 x 16 pixels
    cloud = read_ply(tmp_path / "pred" / "points.ply")
    assert cloud.points.shape == (384, 3) and cloud.confidence.shape == (384,)
    assert Image.open(tmp_path / "pred" / "render.png").size == (640, 480)
    assert len(read_colmap_scene(tmp_path / "pred")) == 3
    assert sorted(p.name for p in (tmp_path / "pred" / "depth").iterdir())[-2:] == ["002.png", "scale.json"]
    assert (tmp_path / "pred" / "viewer.html").read_text().startswith("<!DOCTYPE html>")
    # in chunks of 2 views sharing 1: views 0-1 and 1-2, assembled in view 0's frame
    out = muskie(
        "recon",
        "predict",
        "--checkpoint",
        checkpoint,
        "--images",
        scene / "images",
        "--out",
        tmp_path / "chunked",
        "--chunk-views",
        2,
        "--chunk-overlap",
        1,
    )
    assert "viewer: " in out.stdout and "colmap: " in out.stdout
    chunked = read_transforms_json(tmp_path / "chunked")
    assert len(chunked) == 3
    np.testing.assert_allclose(chunked.frames[0].cam_to_world, np.eye(4), atol=1e-6)


def test_eval_and_predict_on_a_real_scene(checkpoint, tmp_path, real_data):
    out = muskie(
        "recon",
        "eval",
        "--checkpoint",
        checkpoint,
        "--scenes",
        real_data / "templeRing",
        "--out",
        tmp_path / "eval",
        "--samples",
        1,
        "--views",
        3,
        "--size",
        16,
        24,
        "--threads",
        1,
    )
    assert "n/a" in out.stdout, "no depth: pose AUC only"
    row = json.loads((tmp_path / "eval" / "recon_eval.json").read_text())["results"][str(real_data / "templeRing")]
    assert row["pairs"] == 3 and row["accuracy"] is None
    muskie(
        "recon",
        "predict",
        "--checkpoint",
        checkpoint,
        "--images",
        real_data / "templeRing",
        "--out",
        tmp_path / "pred",
        "--size",
        16,
        24,
    )
    assert len(read_transforms_json(tmp_path / "pred")) == 19
    assert "element vertex 7296" in (tmp_path / "pred" / "points.ply").read_bytes()[:400].decode(errors="ignore")


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--recipe", "nosuch"], "unknown recon recipe 'nosuch'"),
        (["train", "--set", "model.nope=1"], "unknown key"),
        (
            ["train", "--backbone-weights", "/nonexistent/muskie", "--steps", "1", "--device", "cpu"],
            "/nonexistent/muskie",
        ),
        (["eval", "--checkpoint", "/nonexistent.pt"], "/nonexistent.pt"),
        (["predict", "--checkpoint", "/nonexistent.pt", "--images", "x"], "/nonexistent.pt"),
        (
            ["predict", "--checkpoint", "c.pt", "--images", "x", "--chunk-views", "1"],
            "--chunk-views / --chunk-overlap: chunk views must be at least 2, got 1",
        ),
        (
            ["predict", "--checkpoint", "c.pt", "--images", "x", "--chunk-views", "4", "--chunk-overlap", "4"],
            "chunk overlap must be between 1 and chunk views - 1 = 3, got 4",
        ),
        (
            ["predict", "--checkpoint", "c.pt", "--images", "x", "--chunk-overlap", "2"],
            "--chunk-overlap needs --chunk-views",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path):
    result = muskie("recon", *args, "--out", tmp_path / "out", check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_pretraining_checkpoint_is_not_a_recon_checkpoint(tmp_path, capsys):
    from muskie.cli.main import main
    from muskie.model import Muskie, MuskieConfig
    from muskie.weights import save_checkpoint

    model = Muskie(MuskieConfig(embed_dim=16, depth=1, num_heads=1, patch_size=8))
    save_checkpoint(
        tmp_path / "pre.pt",
        task="pretrain",
        step=1,
        model_class="Muskie",
        model_config=model.config_dict(),
        model_state=model.state_dict(),
        config={"model": "tiny"},
    )
    (tmp_path / "images").mkdir()
    for action in (
        ["eval", "--out", tmp_path / "out"],
        ["predict", "--images", tmp_path / "images", "--out", tmp_path / "out"],
    ):
        assert main(["recon", action[0], "--checkpoint", str(tmp_path / "pre.pt"), *map(str, action[1:])]) == 2
        err = capsys.readouterr().err
        assert "pre.pt: not a reconstruction checkpoint (a pretrain checkpoint of a Muskie" in err


def test_version_1_checkpoint_evaluates_at_its_training_size_and_a_folder_without_one_needs_size(tmp_path, capsys):
    from pathlib import Path

    from muskie.cli.main import main
    from muskie.loading import load_model

    v1 = Path(__file__).resolve().parent / "data" / "checkpoints_v1" / "recon.pt"
    argv = ["recon", "eval", "--samples", "1", "--views", "2", "--synthetic-scenes", "2"]
    assert main([*argv, "--checkpoint", str(v1), "--out", str(tmp_path / "v1")]) == 0
    assert "| 8x8 |" in (tmp_path / "v1" / "recon_eval.md").read_text(), "the size the v1 file was trained at"
    capsys.readouterr()
    model = load_model(v1)
    kept = model.save_pretrained(tmp_path / "kept")
    assert main([*argv, "--checkpoint", str(kept), "--out", str(tmp_path / "k")]) == 0, "the folder keeps its size"
    assert "| 8x8 |" in (tmp_path / "k" / "recon_eval.md").read_text()
    capsys.readouterr()
    model.metadata = {}
    folder = model.save_pretrained(tmp_path / "recon-model")
    assert main([*argv, "--checkpoint", str(folder), "--out", str(tmp_path / "f")]) == 2
    assert "does not record the image size it was trained at; pass --size H W" in capsys.readouterr().err
    assert main([*argv, "--checkpoint", str(folder), "--out", str(tmp_path / "f"), "--size", "8", "8"]) == 0
