"""The ``muskie`` command as a user runs it: synth -> pretrain (on disk scenes and synthetic) -> eval masked-views."""

import json

import numpy as np
import pytest
from cli_runner import muskie
from PIL import Image

from muskie.data.sources import load_scene, read_colmap_scene, write_colmap_scene

TINY = [
    "--set",
    "model_overrides={embed_dim: 32, depth: 1, num_heads: 2, patch_size: 8}",
    "--set",
    "data.resolutions=[[[32, 32]]]",
    "--set",
    "data.batch_size=2",
    "--set",
    "data.workers=0",
    "--set",
    "data.min_views=3",
    "--set",
    "data.max_views=3",
    "--set",
    "optim.warmup_steps=1",
    "--precision",
    "fp32",
    "--device",
    "cpu",
    "--no-progress",
]


@pytest.mark.slow
def test_synth_pretrain_reconstruct(tmp_path):
    muskie(
        "synth",
        "--out",
        tmp_path / "scenes",
        "--scenes",
        3,
        "--frames",
        6,
        "--height",
        48,
        "--width",
        48,
        "--split",
        "val",
    )
    # pre-train on the written scene folders (the disk path a user with real data takes)
    run = tmp_path / "run"
    out = muskie(
        "pretrain",
        "--preset",
        "tiny",
        "--data",
        tmp_path / "scenes",
        "--out",
        run,
        "--steps",
        3,
        "--set",
        "checkpoint_every=2",
        *TINY,
    )
    assert "finished at step 3/3" in out.stdout
    config = (run / "config.yaml").read_text()
    assert "source: " + str(tmp_path / "scenes") in config
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert (run / "model" / "model.safetensors").is_file()

    rec = muskie(
        "eval",
        "masked-views",
        "--checkpoint",
        run / "checkpoint-last.pt",
        "--scenes",
        tmp_path / "scenes",
        "--out",
        tmp_path / "rec",
        "--samples",
        3,
        "--batch-size",
        2,
        "--views",
        3,
        "--refs",
        1,
        "--size",
        32,
        32,
        "--figures",
        1,
        "--modes",
        "random",
        "ellipse",
    )
    assert "| random |" in rec.stdout and "| ellipse |" in rec.stdout
    metrics = json.loads((tmp_path / "rec" / "metrics.json").read_text())
    assert metrics["samples"] == 3
    for mode in ("random", "ellipse"):
        values = metrics["masked_mse"][mode]
        assert all(np.isfinite(values[k]) for k in ("with_refs", "without_refs", "other_scene_refs", "fill"))
    figure = Image.open(tmp_path / "rec" / "sample_000_random.png")
    assert figure.width > figure.height > 3 * 32  # 3 views, 5 columns, upscaled


@pytest.mark.slow
def test_reconstruct_from_exported_model_on_synthetic(tmp_path):
    run = tmp_path / "run"
    muskie("pretrain", "--preset", "tiny", "--out", run, "--steps", 2, "--set", "data.synthetic_scenes=8", *TINY)
    rec = muskie(
        "eval",
        "masked-views",
        "--checkpoint",
        run / "model",
        "--out",
        tmp_path / "rec",
        "--samples",
        2,
        "--views",
        3,
        "--refs",
        1,
        "--size",
        32,
        32,
        "--figures",
        0,
        "--modes",
        "rectangle",
    )
    assert "| rectangle |" in rec.stdout


def test_synth_scene_survives_colmap_round_trip(tmp_path):
    muskie("synth", "--out", tmp_path, "--scenes", 1, "--frames", 4, "--height", 32, "--width", 40)
    (scene_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    scene = load_scene(scene_dir)
    write_colmap_scene(scene_dir / "sparse" / "0", scene, binary=True)
    again = read_colmap_scene(scene_dir / "sparse" / "0", image_dir=scene_dir / "images")
    assert len(again.frames) == len(scene.frames) == 4
    for a, b in zip(scene.frames, again.frames, strict=True):
        assert (a.width, a.height) == (b.width, b.height) == (40, 32)
        np.testing.assert_allclose(a.intrinsics, b.intrinsics, atol=1e-9)
        # synthetic poses are float32 rotations (orthonormal to ~1e-7); COLMAP stores unit quaternions
        np.testing.assert_allclose(a.cam_to_world, b.cam_to_world, atol=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (["pretrain", "--recipe", "nosuch"], "unknown recipe 'nosuch'"),
        (["pretrain", "--set", "optim.lrr=1"], "unknown key"),
        (["pretrain", "--set", "steps=many"], "config.steps: expected an integer"),
        (["pretrain", "--set", "precision=fp8"], "precision must be"),
        (["pretrain", "--data", "/nonexistent/scenes", "--steps", "1", "--device", "cpu"], "/nonexistent/scenes"),
        (["eval", "masked-views", "--checkpoint", "/nonexistent.pt"], "/nonexistent.pt"),
        (["eval", "masked-views", "--checkpoint", "x", "--modes", "square"], "unknown mask mode"),
        (["eval", "masked-views", "--checkpoint", "x", "--views", "2", "--refs", "2"], "--refs must be"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path):
    result = muskie(*args, "--out", tmp_path / "out", check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_reconstruct_a_real_scene(tmp_path, real_data):
    from muskie import create_model

    create_model("tiny", embed_dim=32, depth=1, num_heads=2).save_pretrained(tmp_path / "model")
    rec = muskie(
        "eval",
        "masked-views",
        "--checkpoint",
        tmp_path / "model",
        "--scenes",
        real_data / "templeRing",
        "--out",
        tmp_path / "rec",
        "--samples",
        3,
        "--batch-size",
        3,
        "--views",
        3,
        "--refs",
        1,
        "--size",
        48,
        64,
        "--figures",
        1,
        "--modes",
        "random",
    )
    metrics = json.loads((tmp_path / "rec" / "metrics.json").read_text())
    assert metrics["samples"] == 3 and metrics["size"] == [48, 64]
    assert metrics["masked_mse"]["random"]["other_scene_refs"] is None, "one scene: no other scene to borrow"
    assert "| random |" in rec.stdout and "n/a" in rec.stdout
