"""The training engine's own features, on a tiny pre-training task: signals, kept checkpoints, validation and
the best checkpoint, extending a finished run, --init-from, and which settings a resume may change."""

import json
import os
import signal
import threading

import pytest
import torch
import yaml
from fixtures import TINY_PRETRAIN_MODEL, assert_same_weights, tiny_pretrain_config

from muskie.pretraining.config import PretrainConfig
from muskie.pretraining.task import PretrainTask, pretrain
from muskie.train.engine import train
from muskie.weights.checkpoint import read_checkpoint, save_checkpoint


def tiny_config(out_dir, **overrides) -> PretrainConfig:
    """The tiny pre-training run with each batch used once."""
    return tiny_pretrain_config(out_dir, **{"reuse": 1, **overrides})


def logged(out_dir, key="loss"):
    records = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r[key]) for r in records if key in r]


class SignalAt(PretrainTask):
    """Sends itself ``signum`` while computing step ``at`` (0-based)."""

    def __init__(self, config, signum, at):
        super().__init__(config)
        self.signum, self.at = signum, at

    def loss(self, model, part, context):
        if context.step == self.at:
            signal.raise_signal(self.signum)
        return super().loss(model, part, context)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_the_current_step_and_the_run_resumes_exactly(tmp_path, signum):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are installed only in the main thread")
    straight = pretrain(tiny_config(tmp_path / "straight"), progress=False)
    stopped = train(SignalAt(tiny_config(tmp_path / "cut"), signum, at=2), progress=False)
    assert stopped.ended_by == signal.Signals(signum).name and stopped.step == 3
    assert read_checkpoint(stopped.checkpoint).step == 3, "the step in progress is finished and saved"
    assert signal.getsignal(signum) is not None  # the previous handler is back
    resumed = pretrain(tiny_config(tmp_path / "cut"), progress=False)
    assert resumed.step == 6 and resumed.ended_by is None
    assert logged(tmp_path / "cut") == logged(tmp_path / "straight")
    assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())


def test_the_last_k_checkpoints_are_kept(tmp_path):
    pretrain(tiny_config(tmp_path, steps=8, keep_checkpoints=2), progress=False)
    kept = sorted(p.name for p in tmp_path.glob("checkpoint-0*.pt"))
    assert kept == ["checkpoint-00000006.pt", "checkpoint-00000008.pt"]
    assert [read_checkpoint(tmp_path / name).step for name in kept] == [6, 8]
    assert read_checkpoint(tmp_path / "checkpoint-last.pt").step == 8


def test_validation_loss_and_the_best_checkpoint(tmp_path):
    result = pretrain(tiny_config(tmp_path, steps=6, val_every=2, val_samples=4), progress=False)
    validations = logged(tmp_path, "val_loss")
    assert [step for step, _ in validations] == [2, 4, 6]
    best_step, best_loss = min(validations, key=lambda item: item[1])
    best = read_checkpoint(tmp_path / "checkpoint-best.pt")
    assert best.step == best_step and best.metrics["val_loss"] == pytest.approx(best_loss)
    assert [step for step, _ in logged(tmp_path)] == list(range(1, 7)), "validation lines are not steps"
    assert result.step == 6
    # the shortcut diagnostics of the pre-training task, per block and per shift, as shares
    shares = [value for _, value in logged(tmp_path, "val_same_cell_b0")]
    found = [value for _, value in logged(tmp_path, "val_shift_found_attention_1")]
    assert len(shares) == len(found) == 3 and all(0 <= v <= 1 for v in shares + found)


def test_validation_is_the_same_model_evaluated_on_fixed_samples(tmp_path):
    task = PretrainTask(tiny_config(tmp_path, val_every=1, val_samples=3))
    first, second = task.validation_parts(), task.validation_parts()
    assert len(first) == 2 and all(torch.equal(a[2].images, b[2].images) for a, b in zip(first, second, strict=True))


def test_a_finished_run_is_extended_to_more_steps(tmp_path):
    pretrain(tiny_config(tmp_path, steps=4), progress=False)
    assert read_checkpoint(tmp_path / "checkpoint-last.pt").step == 4
    extended = pretrain(tiny_config(tmp_path, steps=6), progress=False)
    assert extended.step == 6 and len(extended.losses) == 2
    assert [step for step, _ in logged(tmp_path)] == list(range(1, 7))
    with pytest.raises(ValueError, match="below the checkpoint's step 6"):
        pretrain(tiny_config(tmp_path, steps=5), progress=False)


def test_init_from_loads_weights_but_not_the_optimiser(tmp_path):
    source = pretrain(tiny_config(tmp_path / "source", steps=2), progress=False)
    config = tiny_config(tmp_path / "fine", steps=2, init_from=str(tmp_path / "source" / "model"))
    task = PretrainTask(config)
    model = task.build_model()
    task.init_from(model, config.init_from)
    assert_same_weights(model.state_dict(), source.model.state_dict())
    fine = pretrain(config, progress=False)
    assert read_checkpoint(fine.checkpoint).optimizer_state["state"][0]["step"] == 2, "a fresh optimiser"
    # a backbone-only file keeps the fresh pixel head
    source.model.save_pretrained(tmp_path / "full")
    from muskie.model import MuskieBackbone

    backbone = MuskieBackbone.from_pretrained(tmp_path / "full")
    backbone.save_pretrained(tmp_path / "backbone")
    model = task.build_model()
    head = model.decoder_pred.weight.clone()
    task.init_from(model, str(tmp_path / "backbone"))
    assert torch.equal(model.decoder_pred.weight, head)
    assert torch.equal(model.patch_embed.proj.weight, source.model.patch_embed.proj.weight)


def test_resume_allows_where_settings_and_refuses_result_settings(tmp_path):
    pretrain(tiny_config(tmp_path), stop_at_step=2, progress=False)
    relaxed = pretrain(
        tiny_config(tmp_path, log_every=3, checkpoint_every=3, data={"workers": 1}), stop_at_step=4, progress=False
    )
    assert relaxed.step == 4
    with pytest.raises(ValueError, match=r"cannot resume.*\['precision'\]"):
        pretrain(tiny_config(tmp_path, precision="bf16"), progress=False)


def test_a_checkpoint_of_another_task_is_not_resumed(tmp_path):
    save_checkpoint(
        tmp_path / "checkpoint-last.pt",
        task="recon",
        step=1,
        model_class="ReconModel",
        model_config={},
        model_state={},
        config={},
    )
    with pytest.raises(ValueError, match="checkpoint of the 'recon' task"):
        pretrain(tiny_config(tmp_path), progress=False)


def test_metrics_are_written_in_step_order_with_throughput(tmp_path):
    pretrain(tiny_config(tmp_path, steps=3, log_every=2), progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(r["views_per_s"] > 0 and isinstance(r["modes"], list) for r in records)
    assert os.path.isdir(tmp_path / "tensorboard")
    # the analytic training FLOPs of a step: 2 scenes of 2 or 3 views at 32x32, forward and backward
    from muskie.model.config import preset_config
    from muskie.model.flops import TRAINING_STEP_FACTOR, forward_flops

    config = preset_config("tiny", **TINY_PRETRAIN_MODEL)
    allowed = {2 * forward_flops(config, v, 32, 32) * TRAINING_STEP_FACTOR / 1e9 for v in (2, 3)}
    assert all(min(abs(r["gflop"] - a) for a in allowed) < 1e-9 for r in records)


def test_a_run_of_an_older_muskie_resumes_where_new_keys_keep_their_defaults(tmp_path):
    """tests/data/checkpoints_v1/pretrain.pt: a finished 1-step run written before the engine existed (its
    config lacks data.val_source, keep_checkpoints, ...); extending it to 2 steps resumes it."""
    import shutil
    from pathlib import Path

    from muskie.config_io import from_dict

    v1 = Path(__file__).resolve().parent / "data" / "checkpoints_v1" / "pretrain.pt"
    saved = read_checkpoint(v1)
    shutil.copy(v1, tmp_path / "checkpoint-last.pt")
    config = from_dict(
        PretrainConfig,
        {**saved.config, "out_dir": str(tmp_path), "steps": 2, "data": {**saved.config["data"], "workers": 0}},
    )
    result = pretrain(config, progress=False)
    assert result.step == 2 and len(result.losses) == 1
    assert read_checkpoint(tmp_path / "checkpoint-last.pt").version == 2


def test_an_optimiser_state_that_does_not_fit_is_a_clear_error(tmp_path):
    from muskie.weights.checkpoint import CheckpointError

    pretrain(tiny_config(tmp_path, steps=2), stop_at_step=1, progress=False)
    saved = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    saved["optimizer"]["param_groups"][1]["params"] = saved["optimizer"]["param_groups"][1]["params"][:-1]
    torch.save(saved, tmp_path / "checkpoint-last.pt")
    with pytest.raises(CheckpointError, match="optimiser state does not fit.*--init-from"):
        pretrain(tiny_config(tmp_path, steps=2), progress=False)


def test_a_peer_recipe_validates_its_encoder_with_the_shortcut_diagnostics(tmp_path):
    pretrain(tiny_config(tmp_path, method="mae", steps=2, val_every=2, val_samples=2), progress=False)
    record = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][-1]
    assert record["step"] == 2 and "val_loss" in record and 0 <= record["val_shift_found_nn_1"] <= 1
    assert not any(key.startswith(("val_same_cell", "val_shift_found_attention")) for key in record), (
        "a frame-wise encoder has no cross-view attention"
    )


def test_auto_precision_is_resolved_recorded_and_kept_on_resume(tmp_path, monkeypatch):
    from muskie import devices
    from muskie.train import engine

    monkeypatch.setattr(
        engine,
        "resolve_precision",
        lambda precision, device: (
            devices.resolve_precision(precision, device)
            if precision != "auto"
            else ("fp32", "precision auto: fp32 (test)")
        ),
    )
    pretrain(tiny_config(tmp_path, precision="auto", steps=2), progress=False)
    saved = read_checkpoint(tmp_path / "checkpoint-last.pt")
    assert saved.config["precision"] == "fp32"
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["precision"] == "fp32"
    # a machine whose auto would now say bf16 resumes the run in the precision it started with
    monkeypatch.setattr(engine, "resolve_precision", lambda precision, device: ("bf16", "test"))
    result = pretrain(tiny_config(tmp_path, precision="auto", steps=3), progress=False)
    assert result.step == 3 and read_checkpoint(tmp_path / "checkpoint-last.pt").config["precision"] == "fp32"


def test_bf16_on_a_cpu_that_emulates_it_warns_with_the_measured_cost(tmp_path, monkeypatch):
    from muskie import devices

    monkeypatch.setattr(devices, "native_bf16", lambda device: False)
    monkeypatch.setattr(devices, "bf16_slowdown", lambda: 40.0)
    with pytest.warns(UserWarning, match="measured 40x slower than float32"):
        pretrain(tiny_config(tmp_path, precision="bf16", steps=1), progress=False)


def test_a_time_budget_ends_with_a_checkpoint_and_an_exported_model_and_the_run_resumes(tmp_path):
    result = pretrain(tiny_config(tmp_path, steps=3), progress=False, max_minutes=0)
    assert result.ended_by == "time budget" and result.step == 1
    assert result.exported == tmp_path / "model" and (tmp_path / "model" / "model.safetensors").is_file()
    assert read_checkpoint(tmp_path / "checkpoint-last.pt").step == 1
    finished = pretrain(tiny_config(tmp_path, steps=3), progress=False)
    assert finished.ended_by is None and finished.step == 3 and finished.exported == tmp_path / "model"


class CrashAt(PretrainTask):
    """Dies (as a kill would, with no checkpoint) while computing step ``at`` (0-based)."""

    def __init__(self, config, at):
        super().__init__(config)
        self.at = at

    def loss(self, model, part, context):
        if context.step == self.at:
            raise RuntimeError("killed")
        return super().loss(model, part, context)


def test_a_fresh_start_moves_the_earlier_runs_files_aside_and_deletes_nothing(tmp_path):
    pretrain(tiny_config(tmp_path / "run"), stop_at_step=4, progress=False)
    earlier = {name: (tmp_path / "run" / name).read_bytes() for name in ("metrics.jsonl", "config.yaml")}
    (tmp_path / "run" / "checkpoint-last.pt").rename(tmp_path / "suspect.pt")  # as the docs advise for a bad one
    fresh = pretrain(tiny_config(tmp_path / "run"), progress=False)
    assert fresh.step == 6 and len(fresh.losses) == 6
    (moved,) = (tmp_path / "run" / "previous-runs").iterdir()
    assert {name: (moved / name).read_bytes() for name in earlier} == earlier, "the earlier run's log is kept"
    assert (moved / "tensorboard").is_dir()
    assert [step for step, _ in logged(tmp_path / "run")] == list(range(1, 7)), "the new log is the new run's only"


def test_an_interrupted_no_resume_never_leaves_the_old_checkpoint_for_the_next_run(tmp_path):
    straight = pretrain(tiny_config(tmp_path / "straight"), progress=False)
    pretrain(tiny_config(tmp_path / "run"), stop_at_step=4, progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        train(CrashAt(tiny_config(tmp_path / "run"), at=1), resume=False, progress=False)
    assert not (tmp_path / "run" / "checkpoint-last.pt").exists(), "the old checkpoint was moved aside first"
    (moved,) = (tmp_path / "run" / "previous-runs").iterdir()
    assert read_checkpoint(moved / "checkpoint-last.pt").step == 4
    again = pretrain(tiny_config(tmp_path / "run"), progress=False)  # the next plain run starts afresh
    assert len(again.losses) == 6
    assert logged(tmp_path / "run") == logged(tmp_path / "straight"), "one run's log, not two interleaved"
    assert_same_weights(again.model.state_dict(), straight.model.state_dict())
    assert len(list((tmp_path / "run" / "previous-runs").iterdir())) == 2, "the crashed run's files kept too"
