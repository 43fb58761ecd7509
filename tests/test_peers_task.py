"""The peer recipes as tasks of the engine: config checks, the choice of task, losses that fall, exact
resume, a resume of another method refused, FLOPs in the log, and the exported encoder as a backbone."""

import contextlib
import json

import pytest
import torch
from fixtures import TINY_PRETRAIN_MODEL, tiny_pretrain_config

import muskie
from muskie.config_io import ConfigError, merge
from muskie.data.batch import ViewBatch
from muskie.eval.backbones import build_backbone
from muskie.model import MuskieBackbone, create_model
from muskie.model.flops import TRAINING_STEP_FACTOR
from muskie.peers import CroCoModel, MAEModel, MuMModel
from muskie.peers.flops import croco_forward_flops, mae_forward_flops, mum_forward_flops
from muskie.peers.task import CroCoTask, MAETask, MuMTask
from muskie.pretraining import PretrainConfig, PretrainTask, load_pretrain_config, pretrain, task_for
from muskie.pretraining.masking import num_masked_patches
from muskie.train.config import OptimConfig
from muskie.train.engine import StepContext
from muskie.train.optim import build_optimizer

METHODS = ["mae", "mum", "croco"]


def tiny_config(method, out_dir, **overrides) -> PretrainConfig:
    return tiny_pretrain_config(out_dir, method=method, peer={"decoder_dim": 16, "decoder_heads": 2}, **overrides)


def read_metrics(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def context(step=0):
    return StepContext(step, 0, 0, torch.device("cpu"), contextlib.nullcontext())


@pytest.mark.parametrize(
    "method, task, model",
    [
        ("muskie", PretrainTask, None),
        ("mae", MAETask, MAEModel),
        ("mum", MuMTask, MuMModel),
        ("croco", CroCoTask, CroCoModel),
    ],
)
def test_task_for_picks_the_method_s_task(method, task, model, tmp_path):
    chosen = task_for(tiny_config(method, tmp_path).validate())
    assert type(chosen) is task
    if model is not None:
        assert type(chosen.build_model()) is model
        assert chosen.build_model().config.encoder.cross_view is False


def test_a_task_refuses_another_method(tmp_path):
    with pytest.raises(ValueError, match="trains method 'muskie'.*task_for"):
        PretrainTask(tiny_config("mae", tmp_path))
    with pytest.raises(ValueError, match="trains method 'croco'"):
        CroCoTask(tiny_config("mum", tmp_path))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"method": "simclr"}, "method must be one of"),
        ({"peer": {"mask_ratio": 1.0}}, r"peer.mask_ratio must lie in \(0, 1\)"),
        ({"peer": {"decoder_heads": 3}}, "multiple of 4"),
        ({"peer": {"decoder_depth": 0}}, "peer.decoder_depth must be >= 1"),
        ({"method": "croco", "data": {"min_views": 1}}, "pairs of views"),
        ({"model_overrides": {**TINY_PRETRAIN_MODEL, "cross_view": True}}, "the encoder is frame-wise"),
        ({"peer": {"mask_ratio": 0.9}, "data": {"resolutions": [[[16, 16]]]}}, "must keep one and mask one"),
    ],
)
def test_bad_peer_configs_are_refused(overrides, message, tmp_path):
    config = merge(tiny_config("mae", tmp_path), overrides)
    with pytest.raises(ConfigError, match=message):
        config.validate()


def test_the_muskie_method_is_the_default_and_ignores_peer_settings(tmp_path):
    assert PretrainConfig().method == "muskie"
    config = merge(PretrainConfig(), {"peer": {"mask_ratio": 0.5}})
    assert type(task_for(config)) is PretrainTask


def test_named_recipes_share_tiny_cpu_s_data_optimiser_and_steps():
    reference = load_pretrain_config("tiny-cpu")
    for method in METHODS:
        config = load_pretrain_config(f"{method}-tiny-cpu")
        assert config.method == method
        for key in ("data", "optim", "steps", "reuse", "accum_steps", "seed", "precision", "model"):
            assert getattr(config, key) == getattr(reference, key), (method, key)
        encoder = task_for(config).model_config().encoder
        assert (
            encoder.embed_dim,
            encoder.num_heads,
            encoder.patch_size,
            2 * encoder.depth,
            encoder.num_registers,
            encoder.cross_view,
        ) == (128, 4, 8, 8, 4, False)


@pytest.mark.parametrize("method", METHODS)
def test_masks_hit_the_method_s_ratio(method, tmp_path):
    task = task_for(tiny_config(method, tmp_path).validate())
    mask, visible = task._masks(2, 3, 4, 4, torch.Generator().manual_seed(0), torch.device("cpu"))
    ratio = {"mae": 0.75, "mum": 0.75, "croco": 0.9}[method]
    assert (mask.sum(-1) == num_masked_patches(ratio, 16)).all()
    assert visible.shape == (2, 3, 16 - num_masked_patches(ratio, 16))


@pytest.mark.parametrize("method", METHODS)
def test_loss_is_finite_and_falls_on_a_fixed_batch(method, tmp_path):
    task = task_for(tiny_config(method, tmp_path).validate())
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = build_optimizer(model, OptimConfig(lr=3e-3, weight_decay=0.0))
    # smooth images, so that masked patches are predictable from visible ones
    coarse = torch.rand(8, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    images = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear").view(2, 4, 3, 32, 32)
    part = (0, 0, ViewBatch(images=images))
    losses = []
    for _ in range(20):
        result = task.loss(model, part, context())  # the same step: the same masks and pairs
        result.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(result.loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) < 0.98 * sum(losses[:3]), losses
    assert result.views == 8


@pytest.mark.parametrize("method", METHODS)
def test_resume_repeats_an_uninterrupted_run(method, tmp_path):
    straight = pretrain(tiny_config(method, tmp_path / "a"), progress=False)
    first = pretrain(tiny_config(method, tmp_path / "b"), stop_at_step=3, progress=False)
    assert first.step == 3
    resumed = pretrain(tiny_config(method, tmp_path / "b"), progress=False)
    assert resumed.step == 6
    assert [r["loss"] for r in read_metrics(tmp_path / "b")] == [r["loss"] for r in read_metrics(tmp_path / "a")]
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_resume_refuses_another_method(tmp_path):
    pretrain(tiny_config("mae", tmp_path), stop_at_step=2, progress=False)
    with pytest.raises(ValueError, match=r"cannot resume.*'method'"):
        pretrain(tiny_config("mum", tmp_path), progress=False)


def test_flops_per_step_are_logged(tmp_path):
    counts = {
        "mae": lambda c, v: mae_forward_flops(c, v, 32, 32, 4),
        "mum": lambda c, v: mum_forward_flops(c, v, 32, 32, 4),
        "croco": lambda c, v: croco_forward_flops(c, v // 2, 32, 32, 2),
    }  # 16 patches: 4 kept, or 2 at 90%
    for method in METHODS:
        run = tmp_path / method
        result = pretrain(tiny_config(method, run, steps=2), progress=False)
        allowed = {round(2 * counts[method](result.model.config, v) * TRAINING_STEP_FACTOR / 1e9, 12) for v in (2, 3)}
        assert all(round(r["gflop"], 12) in allowed for r in read_metrics(run)), method


@pytest.mark.parametrize("method", METHODS)
def test_export_is_the_encoder_as_an_evaluation_backbone(method, tmp_path):
    result = pretrain(tiny_config(method, tmp_path, steps=2), progress=False)
    encoder = MuskieBackbone.from_pretrained(tmp_path / "model")
    assert encoder.config.cross_view is False
    for key, value in result.model.encoder.state_dict().items():
        assert torch.equal(value, encoder.state_dict()[key]), key
    backbone = build_backbone(f"{method}=muskie:{tmp_path / 'model'}")
    assert backbone.name == method and not backbone.multi_view
    features = backbone(torch.zeros(1, 2, 3, 32, 32)).features
    assert features.shape == (1, 2, 4, 4, 32)
    # the whole model stays in the checkpoint
    full = muskie.load_model(tmp_path / "checkpoint-last.pt")
    assert type(full) is type(result.model)
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, full.state_dict()[key]), key


def test_init_from_a_muskie_file_loads_the_encoder(tmp_path):
    torch.manual_seed(3)
    source = create_model("tiny", **TINY_PRETRAIN_MODEL)
    source.save_pretrained(tmp_path / "muskie")
    task = task_for(tiny_config("croco", tmp_path / "run", init_from=str(tmp_path / "muskie")).validate())
    model = task.build_model()
    task.init_from(model, str(tmp_path / "muskie"))
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_init_from_another_peer_s_checkpoint_loads_its_encoder(tmp_path):
    mae = pretrain(tiny_config("mae", tmp_path / "mae", steps=2), progress=False)
    task = task_for(tiny_config("croco", tmp_path / "croco").validate())
    model = task.build_model()
    task.init_from(model, str(tmp_path / "mae" / "checkpoint-last.pt"))
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, mae.model.encoder.state_dict()[key]), key


def test_every_method_has_a_task():
    from muskie.pretraining.config import METHODS as CONFIG_METHODS
    from muskie.pretraining.task import _METHOD_TASKS

    assert tuple(_METHOD_TASKS) == CONFIG_METHODS


def test_a_peer_checkpoint_reads_as_its_encoder(tmp_path):
    from muskie.model.backbone import ENCODER_HOLDERS

    assert set(ENCODER_HOLDERS) == {MAEModel.__name__, MuMModel.__name__, CroCoModel.__name__}
    result = pretrain(tiny_config("mum", tmp_path, steps=3), stop_at_step=2, progress=False)
    assert result.exported is None, "a run that stopped early has no export: its checkpoint is what there is"
    encoder = MuskieBackbone.from_pretrained(tmp_path / "checkpoint-last.pt")
    for key, value in result.model.encoder.state_dict().items():
        assert torch.equal(value, encoder.state_dict()[key]), key
    assert not build_backbone(f"muskie:{tmp_path / 'checkpoint-last.pt'}").multi_view
