"""Pre-training as a task of the engine: exact resume, NaN stop, folder lock, and DDP replicas in sync (gloo,
2 CPU procs)."""

import fcntl
import json

import pytest
import torch
from ddp_runner import train_on_ranks
from fixtures import assert_same_weights, tiny_pretrain_config

from muskie.config_io import ConfigError
from muskie.model import Muskie, MuskieBackbone
from muskie.pretraining import step as step_module
from muskie.pretraining.config import PretrainConfig
from muskie.pretraining.task import PretrainTask, pretrain
from muskie.train.engine import NonFiniteLossError
from muskie.train.run_folder import RunFolderBusyError
from muskie.weights.checkpoint import read_checkpoint


def tiny_config(out_dir, **overrides) -> PretrainConfig:
    return tiny_pretrain_config(out_dir, **overrides)


def metric_rows(out_dir, keys=("step", "loss", "val_loss", "val_same_cell_b0")):
    """The rows of ``metrics.jsonl`` reduced to ``keys`` (timings left out): what a resumed run must repeat."""
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: row[k] for k in keys if k in row} for row in map(json.loads, lines)]


def read_losses(out_dir):
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def test_resume_repeats_an_uninterrupted_run(tmp_path):
    overrides = {"accum_steps": 2, "data": {"resolutions": [[[32, 32]], [[32, 48], [48, 32]]]}}
    straight = pretrain(tiny_config(tmp_path / "a", **overrides), progress=False)
    first = pretrain(tiny_config(tmp_path / "b", **overrides), stop_at_step=3, progress=False)
    assert first.step == 3 and read_checkpoint(first.checkpoint).step == 3
    resumed = pretrain(tiny_config(tmp_path / "b", **overrides), progress=False)
    assert resumed.step == 6
    assert read_losses(tmp_path / "b") == read_losses(tmp_path / "a")
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert (tmp_path / "b" / "model" / "config.json").is_file(), "a finished run exports its weights"
    assert (tmp_path / "b" / "config.yaml").is_file()


def test_losses_fall_and_are_finite(tmp_path):
    result = pretrain(tiny_config(tmp_path, steps=12, reuse=1), progress=False)
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert sum(result.losses[-3:]) < sum(result.losses[:3])


def test_resume_refuses_another_config(tmp_path):
    pretrain(tiny_config(tmp_path), stop_at_step=2, progress=False)
    with pytest.raises(ValueError, match=r"cannot resume.*optim"):
        pretrain(tiny_config(tmp_path, optim={"lr": 5e-3}), progress=False)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real_loss = step_module.confidence_weighted_loss
    calls = {"n": 0}

    def loss_that_breaks(*args, **kwargs):
        out = real_loss(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 4:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(step_module, "confidence_weighted_loss", loss_that_breaks)
    with pytest.raises(NonFiniteLossError, match=r"step 4: the loss is nan.*checkpoint-last.pt"):
        pretrain(tiny_config(tmp_path, reuse=1, checkpoint_every=2), progress=False)
    assert read_checkpoint(tmp_path / "checkpoint-last.pt").step == 4


def test_second_run_on_same_folder_is_refused(tmp_path):
    with open(tmp_path / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunFolderBusyError, match="another muskie run"):
            pretrain(tiny_config(tmp_path), progress=False)


def test_ddp_replicas_stay_identical(tmp_path):
    rank0, rank1 = train_on_ranks(pretrain, tiny_config(tmp_path / "run", steps=3), tmp_path)
    single = torch.load(tmp_path / "run" / "checkpoint-last.pt", weights_only=True)["model"]
    assert_same_weights(rank0, rank1)
    assert_same_weights(rank0, single)
    torch.manual_seed(0)  # the run's seed, so this is the run's initial model
    initial = PretrainTask(tiny_config(tmp_path / "x")).build_model()
    assert any(not torch.equal(initial.state_dict()[k], rank0[k]) for k in rank0), "training changed weights"


def test_bf16_autocast_trains_on_cpu(tmp_path):
    result = pretrain(tiny_config(tmp_path, precision="bf16", steps=3), progress=False)
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert result.model.patch_embed.proj.weight.dtype == torch.float32, "weights stay float32 under autocast"


def test_rope_view_shift_gives_every_view_its_own_positions_and_resumes(tmp_path, monkeypatch):
    seen = []
    draw = step_module.draw_position_shifts

    def recording(b, v, largest, generator):
        shift = draw(b, v, largest, generator)
        seen.append(shift)
        return shift

    monkeypatch.setattr(step_module, "draw_position_shifts", recording)
    straight = pretrain(tiny_config(tmp_path / "a", rope_view_shift=3), progress=False)
    assert all(shift.shape[0] == 2 and shift.shape[2] == 2 for shift in seen)  # (B, V, 2), V varies by step
    values = torch.cat([shift.flatten() for shift in seen])
    assert values.min() == 0 and values.max() == 3 and len(values.unique()) == 4
    assert any((shift[:, :1] != shift).any() for shift in seen), "views of one scene draw their own shifts"
    pretrain(tiny_config(tmp_path / "b", rope_view_shift=3), stop_at_step=3, progress=False)
    resumed = pretrain(tiny_config(tmp_path / "b", rope_view_shift=3), progress=False)
    assert read_losses(tmp_path / "b") == read_losses(tmp_path / "a")
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
    seen.clear()
    pretrain(tiny_config(tmp_path / "c"), stop_at_step=1, progress=False)
    assert seen == [None], "without a shift nothing is drawn: runs of earlier versions repeat exactly"


def test_a_scene_pool_trains_on_the_same_samples_and_resumes_exactly(tmp_path):
    """``synthetic_cache >= synthetic_scenes`` keeps every scene built: a memo, so the run is the one a small
    cache gives, and it resumes exactly."""
    pool = {"data": {"synthetic_scenes": 3, "synthetic_cache": 3}}
    cold = pretrain(tiny_config(tmp_path / "cold", data={"synthetic_scenes": 3, "synthetic_cache": 1}), progress=False)
    straight = pretrain(tiny_config(tmp_path / "a", **pool), progress=False)
    assert read_losses(tmp_path / "a") == read_losses(tmp_path / "cold")
    pretrain(tiny_config(tmp_path / "b", **pool), stop_at_step=3, progress=False)
    resumed = pretrain(tiny_config(tmp_path / "b", **pool), progress=False)
    assert read_losses(tmp_path / "b") == read_losses(tmp_path / "a")
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
    assert_same_weights(cold.model.state_dict(), straight.model.state_dict())


def test_scene_pool_settings_are_checked(tmp_path, capsys):
    from cli_runner import run_cli

    with pytest.raises(ConfigError, match=r"data.synthetic_cache must be in \[1, 4096\]"):
        tiny_config(tmp_path, data={"synthetic_cache": 5000}).validate()
    with pytest.raises(ConfigError, match=r"data.synthetic_scenes must be in \[1, "):
        tiny_config(tmp_path, data={"synthetic_scenes": 0}).validate()
    code, err = run_cli(
        ["pretrain", "--recipe", "tiny-cpu", "--out", tmp_path / "run", "--set", "data.synthetic_cache=0"], capsys
    )
    assert code == 2 and "data.synthetic_cache must be in [1, 4096]" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoint-last.pt").exists()


def test_rope_view_shift_is_checked():
    with pytest.raises(ConfigError, match="rope_view_shift must be >= 0"):
        PretrainConfig(rope_view_shift=-1).validate()
    with pytest.raises(ConfigError, match="rope_view_shift applies to method muskie only, not mae"):
        PretrainConfig(method="mae", rope_view_shift=2).validate()


def test_a_pixel_decoder_trains_with_the_encoder_and_is_left_out_of_its_export(tmp_path):
    """``decoder_blocks``: the Muskie holds one more block; validation diagnostics and the exported folder
    cover the encoder's block alone; the run resumes exactly."""
    overrides = {"decoder_blocks": 1, "val_every": 3, "val_samples": 2}
    straight = pretrain(tiny_config(tmp_path / "a", **overrides), progress=False)
    assert isinstance(straight.model, Muskie) and straight.model.config.depth == 2
    rows = metric_rows(tmp_path / "a")
    validation = [row for row in rows if "val_loss" in row]
    assert validation and all("val_same_cell_b0" in row and "val_same_cell_b1" not in row for row in validation)
    exported = MuskieBackbone.from_pretrained(tmp_path / "a" / "model")
    assert type(exported) is MuskieBackbone and exported.config.depth == 1
    trained = straight.model.state_dict()
    assert_same_weights(exported.state_dict(), {k: trained[k] for k in exported.state_dict()})
    two_blocks = json.loads((tmp_path / "a" / "metrics.jsonl").read_text().splitlines()[0])["gflop"]
    pretrain(tiny_config(tmp_path / "p"), stop_at_step=1, progress=False)
    one_block = json.loads((tmp_path / "p" / "metrics.jsonl").read_text().splitlines()[0])["gflop"]
    assert two_blocks > one_block, "the decoder's blocks are counted in the step's FLOPs"
    pretrain(tiny_config(tmp_path / "b", **overrides), stop_at_step=4, progress=False)
    resumed = pretrain(tiny_config(tmp_path / "b", **overrides), progress=False)
    assert metric_rows(tmp_path / "b") == rows
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_decoder_blocks_are_checked():
    with pytest.raises(ConfigError, match="decoder_blocks must be >= 0"):
        PretrainConfig(decoder_blocks=-1).validate()
    with pytest.raises(ConfigError, match="decoder_blocks applies to method muskie only, not mum"):
        PretrainConfig(method="mum", decoder_blocks=1).validate()


def test_norm_pix_loss_reaches_the_training_loss(tmp_path):
    """The same seed and data: the first step's loss changes when the targets are per-patch normalised."""
    raw = pretrain(tiny_config(tmp_path / "raw"), stop_at_step=1, progress=False)
    normalised = pretrain(tiny_config(tmp_path / "norm", norm_pix_loss=True), stop_at_step=1, progress=False)
    assert torch.isfinite(torch.tensor(normalised.losses)).all()
    assert normalised.losses[0] != raw.losses[0]


def test_hide_mask_tokens_reaches_the_training_loss(tmp_path):
    """The same seed and data: the first step's loss changes when the mask tokens are hidden."""
    seen = pretrain(tiny_config(tmp_path / "seen"), stop_at_step=1, progress=False)
    hidden = pretrain(tiny_config(tmp_path / "hidden", hide_mask_tokens=True), stop_at_step=1, progress=False)
    assert torch.isfinite(torch.tensor(hidden.losses)).all()
    assert hidden.losses[0] != seen.losses[0]
