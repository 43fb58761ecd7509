import json

import pytest
import torch
from ddp_runner import train_on_ranks
from fixtures import assert_same_weights

from muskie.config_io import ConfigError
from muskie.data.synthetic import SyntheticConfig, write_synthetic_scenes
from muskie.loading import load_model
from muskie.recon.config import ReconTrainConfig, load_recon_config
from muskie.recon.model import ReconModel
from muskie.recon.task import train_recon
from muskie.weights import read_weights

# a tiny backbone: width 32, 2 blocks (+ 2 new ones = the 4 the DPT head reads)
TINY = [
    {"model": {"backbone_overrides": {"embed_dim": 32, "depth": 2, "num_heads": 2}, "dpt_dim": 16, "camera_dim": 16}},
    {"data": {"num_views": 3, "size": [16, 16], "batch_size": 2, "synthetic_scenes": 6}},
    {"optim": {"warmup_steps": 1}},
    {"device": "cpu", "checkpoint_every": 2},
]


def tiny_config(tmp_path, **top) -> ReconTrainConfig:
    return load_recon_config(None, [*TINY, {"out_dir": str(tmp_path)}, top])


def test_resumed_run_repeats_an_uninterrupted_one(tmp_path):
    whole = train_recon(tiny_config(tmp_path / "whole", steps=4), progress=False)
    train_recon(tiny_config(tmp_path / "split", steps=4), stop_at_step=2, progress=False)
    resumed = train_recon(tiny_config(tmp_path / "split", steps=4), progress=False)
    assert resumed.step == 4 and len(resumed.losses) == 2
    assert resumed.losses == pytest.approx(whole.losses[2:], rel=1e-5)
    for name, tensor in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, rtol=1e-5, atol=1e-6)
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]


def test_checkpoint_loads_without_the_original_backbone_file(tmp_path):
    result = train_recon(tiny_config(tmp_path, steps=1), progress=False)
    model = load_model(result.checkpoint)
    assert isinstance(model, ReconModel) and not model.training
    images = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(model(images).points, result.model(images).points)


def test_the_checkpoint_describes_its_model_and_image_size(tmp_path):
    result = train_recon(tiny_config(tmp_path, steps=1), progress=False)
    weights = read_weights(result.checkpoint)
    assert (weights.task, weights.step, weights.model_class) == ("recon", 1, "ReconModel")
    assert weights.metadata == {"image_size": [16, 16]}
    assert weights.model_config == result.model.config_dict()


def test_another_config_does_not_resume(tmp_path):
    train_recon(tiny_config(tmp_path, steps=1), progress=False)
    with pytest.raises(ValueError, match="cannot resume"):
        train_recon(tiny_config(tmp_path, steps=1, seed=5), progress=False)


def test_training_on_scene_folders_with_and_without_depth(tmp_path):
    write_synthetic_scenes(
        tmp_path / "scenes", 2, split="val", config=SyntheticConfig(num_frames=4), height=16, width=16
    )
    config = tiny_config(tmp_path / "run", steps=1)
    config.data.source = str(tmp_path / "scenes")
    assert train_recon(config, progress=False).step == 1
    for depth in (tmp_path / "scenes").glob("*/depth"):
        for file in depth.iterdir():
            file.unlink()
        depth.rmdir()
    for meta in (tmp_path / "scenes").glob("*/transforms.json"):
        data = json.loads(meta.read_text())
        for frame in data["frames"]:
            frame.pop("depth_file_path")
        meta.write_text(json.dumps(data))
    config.out_dir = str(tmp_path / "run2")
    with pytest.raises(ValueError, match="needs depth and cameras"):
        train_recon(config, progress=False)


def test_resume_is_bitwise_with_accumulation_and_exports_the_final_model(tmp_path):
    whole = train_recon(tiny_config(tmp_path / "whole", steps=4, accum_steps=2), progress=False)
    train_recon(tiny_config(tmp_path / "split", steps=4, accum_steps=2), stop_at_step=1, progress=False)
    resumed = train_recon(tiny_config(tmp_path / "split", steps=4, accum_steps=2), progress=False)
    assert_same_weights(resumed.model.state_dict(), whole.model.state_dict())
    assert resumed.losses == whole.losses[1:]
    from muskie.loading import load_model

    exported = load_model(tmp_path / "split" / "model")
    assert_same_weights(exported.state_dict(), whole.model.state_dict())
    assert (tmp_path / "split" / "tensorboard").is_dir()
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["views_per_s"] > 0 and "points" in r for r in records)


def test_resume_may_change_device_and_logging(tmp_path):
    train_recon(tiny_config(tmp_path, steps=3), stop_at_step=1, progress=False)
    assert train_recon(tiny_config(tmp_path, steps=3, log_every=1, device="auto"), progress=False).step == 3


def test_init_from_a_reconstruction_model(tmp_path):
    first = train_recon(tiny_config(tmp_path / "a", steps=1), progress=False)
    config = tiny_config(tmp_path / "b", steps=1, init_from=str(tmp_path / "a" / "model"))
    from muskie.recon.task import ReconTask

    task = ReconTask(config)
    model = task.build_model()
    task.init_from(model, config.init_from)
    assert_same_weights(model.state_dict(), first.model.state_dict())


def test_two_process_ddp_ends_with_identical_weights(tmp_path):
    rank0, rank1 = train_on_ranks(train_recon, tiny_config(tmp_path / "run", steps=2), tmp_path)
    saved = torch.load(tmp_path / "run" / "checkpoint-last.pt", weights_only=True)["model"]
    assert_same_weights(rank0, rank1)
    assert_same_weights(rank0, saved)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            {"loss": {"camera_weight": -1}},
            "loss.normal_weight, loss.confidence_weight and loss.camera_weight must be >= 0",
        ),
        ({"loss": {"huber_delta": 0}}, "loss.huber_delta and loss.confidence_threshold must be > 0"),
        (
            {"loss": {"confidence_threshold": float("nan")}},
            "config.loss.confidence_threshold: expected a finite number",
        ),
        ({"model": {"freeze_backbone": "no"}}, "config.model.freeze_backbone: expected true or false"),
    ],
)
def test_loss_weights_and_flags_out_of_range_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recon_config("tiny-cpu", [override])
