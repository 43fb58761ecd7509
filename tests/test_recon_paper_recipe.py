"""The paper's reconstruction recipe (``muskie/configs/recon-paper.yaml``): its published values, a schedule
stated in epochs, a tiny variant run from the command line on fixture datasets in the three training
layouts, the frozen-encoder protocol and the random-start ablation."""

import json
import math

import pytest
import torch
import yaml
from cli_runner import run_cli
from test_formats_arkitscenes import make_video
from test_formats_blendedmvs import make_blendedmvs
from test_formats_scannetpp import make_iphone

from muskie import create_model
from muskie.data.views import ViewRequest
from muskie.model import MuskieBackbone
from muskie.recon.config import load_recon_config
from muskie.recon.model import build_recon_model
from muskie.recon.task import ReconTask, train_recon
from muskie.train.epochs import steps_for_epochs
from muskie.train.optim import build_optimizer

# the recipe made small: a tiny backbone, 2 views of 16x16 pixels, 2 scenes a step, on the CPU
TINY = [
    {"model": {"backbone": "tiny", "backbone_overrides": {"embed_dim": 32, "depth": 2, "num_heads": 2}}},
    {"model": {"dpt_dim": 16, "camera_dim": 16}},
    {"data": {"num_views": 2, "size": [16, 16], "batch_size": 2, "workers": 0}},
    {"device": "cpu", "precision": "fp32", "log_every": 1},
]
TINY_FLAGS = [
    *("--set", "model.backbone=tiny", "--set", "model.backbone_overrides={embed_dim: 32, depth: 2, num_heads: 2}"),
    *("--set", "model.dpt_dim=16", "--set", "model.camera_dim=16", "--set", "data.num_views=2"),
    *("--set", "data.size=[16, 16]", "--set", "data.batch_size=2", "--set", "data.workers=0"),
    *("--device", "cpu", "--no-progress", "--threads", "1"),
]


def test_the_recipe_holds_the_published_setting():
    config = load_recon_config("paper")
    model, data = config.model, config.data
    assert (model.backbone, model.backbone_weights, model.freeze_backbone, model.grad_checkpointing) == (
        "base",
        None,
        False,
        True,
    )
    assert model.new_blocks == 2 and (model.dpt_dim, model.camera_dim) == (768, 768)
    assert (data.num_views, tuple(data.size), data.batch_size, data.samples_per_epoch) == (8, (224, 224), 4, 45_000)
    assert [(s.format, s.path) for s in data.sources] == [
        ("arkitscenes", "data/arkitscenes/raw/Training"),
        ("blendedmvs", "data/blendedmvs"),
        ("scannetpp-iphone", "data/scannetpp"),
    ]
    assert data.sources[1].views == "neighbours" and all(s.weight == 1 for s in data.sources)
    optim = config.optim
    assert (optim.lr, optim.min_lr, optim.betas, optim.weight_decay, optim.clip_grad) == (
        4e-5,
        0,
        (0.9, 0.95),
        0.05,
        None,
    )
    assert (config.epochs, config.warmup_epochs) == (60, 2)
    # on 8 GPUs, as the authors ran it: 60 epochs of 45,000 samples at 4 x 8 a step
    resolved, note = config.with_epochs_as_steps(training_scenes=None, processes=8)
    assert (resolved.steps, resolved.optim.warmup_steps) == (84_375, 2_813)
    assert "epochs 60 = 84375 steps, warmup_epochs 2 = 2813 steps" in note
    assert config.with_epochs_as_steps(None, processes=1)[0].steps == 675_000  # same samples, one GPU


def test_epochs_are_counted_in_samples_exactly():
    assert steps_for_epochs(60, 45_000, 32) == 84_375
    assert steps_for_epochs(2, 45_000, 32) == 2_813  # 2812.5 rounded up: at least the epochs' samples
    assert steps_for_epochs(0.1, 10, 1) == 1  # 0.1 as written, not the float just above it
    assert steps_for_epochs(0, 10, 4) == 0
    with pytest.raises(ValueError, match="epochs must be finite"):
        steps_for_epochs(math.inf, 10, 1)
    for bad, message in [
        ({"epochs": 0}, "epochs must be > 0"),
        ({"warmup_epochs": -1}, "warmup_epochs must be >= 0"),
        ({"data": {"samples_per_epoch": 0}}, "data.samples_per_epoch must be >= 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_recon_config(None, [bad])


def test_an_epoch_of_the_training_scenes_when_no_sample_count_is_given(tmp_path, caplog):
    # 6 synthetic scenes, 2 a step: 1.5 epochs = 9 samples = 5 steps, warm-up 0.5 epoch = 2 steps
    overrides = [*TINY, {"data": {"synthetic_scenes": 6}, "epochs": 1.5, "warmup_epochs": 0.5, "steps": 999}]
    config = load_recon_config(None, [*overrides, {"out_dir": str(tmp_path)}])
    with caplog.at_level("INFO", logger="muskie.recon"):
        task = ReconTask(config)
    assert (task.config.steps, task.config.optim.warmup_steps) == (5, 2)
    assert "an epoch is 6 samples (the training scenes)" in caplog.text
    result = train_recon(config, stop_at_step=1, progress=False)
    assert result.step == 1
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert (written["steps"], written["epochs"], written["optim"]["warmup_steps"]) == (5, 1.5, 2)
    assert train_recon(config, progress=False).step == 5  # the same epochs resume: the same steps


def fixture_datasets(root):
    """The recipe's three roots under ``root/data``, each in its authors' layout, with cameras and depth."""
    frames = ["100.000", "100.100", "100.200"]
    make_video(root / "data" / "arkitscenes" / "raw", frames, ["99.9 0 0 0 0 0 -3", "100.3 0 0 0.2 0 0 -3"])
    make_blendedmvs(root / "data" / "blendedmvs")
    make_iphone(root / "data" / "scannetpp")


@pytest.mark.slow
def test_a_tiny_variant_of_the_recipe_trains_on_the_three_layouts(tmp_path, monkeypatch, capsys):
    fixture_datasets(tmp_path)
    monkeypatch.chdir(tmp_path)  # the recipe's paths are relative to the working folder
    # every dataset of the mixture is read with its cameras and depth
    data = load_recon_config("paper", TINY).data
    mixture = data.open("train", require=("depth", "cameras"))
    assert [(name.split(":")[0], scenes) for name, scenes, _ in mixture.describe()] == [
        ("arkitscenes", 1),
        ("blendedmvs", 1),
        ("scannetpp-iphone", 1),
    ]
    for part in mixture.datasets:
        sample = part[ViewRequest(0, 2, 16, 16, seed=0)]
        assert sample["depth"].shape == (2, 16, 16) and sample["cam_to_world"].shape == (2, 4, 4)
        assert bool(sample["valid"].any())
    code, err = run_cli(["recon", "train", "--recipe", "paper", "--out", "run", "--steps", 2, *TINY_FLAGS], capsys)
    assert code == 0, err
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all(math.isfinite(m["loss"]) for m in metrics)
    written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    # --steps counts the run and its warm-up in steps
    assert (written["steps"], written["epochs"], written["warmup_epochs"]) == (2, None, None)
    assert written["model"]["grad_checkpointing"] and written["optim"]["lr"] == 4e-5
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny pre-trained Muskie folder of the recipe's tiny architecture (what --backbone-weights reads)."""
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("pretrained") / "muskie"
    create_model("tiny", embed_dim=32, depth=2, num_heads=2).save_pretrained(folder)
    return folder


def test_the_frozen_protocol_keeps_the_backbone_bit_identical_and_trains_the_rest(pretrained, tmp_path):
    overrides = [*TINY, {"data": {"source": "synthetic", "sources": [], "synthetic_scenes": 4}}]
    frozen = {"model": {"backbone_weights": str(pretrained), "freeze_backbone": True}}
    schedule = {"epochs": None, "warmup_epochs": None, "steps": 2, "optim": {"lr": 1e-3, "warmup_steps": 1}}
    config = load_recon_config("paper", [*overrides, frozen, schedule, {"out_dir": str(tmp_path)}])
    torch.manual_seed(config.seed)  # as the engine does before building the model
    start = ReconTask(config).build_model()
    optimised = {id(p) for group in build_optimizer(start, config.optim).param_groups for p in group["params"]}
    assert optimised.isdisjoint(id(p) for p in start.backbone.parameters())
    result = train_recon(config, progress=False)
    assert result.step == 2
    published = MuskieBackbone.from_pretrained(pretrained).state_dict()
    for name, tensor in result.model.backbone.state_dict().items():
        assert torch.equal(tensor, published[name]), f"backbone {name} changed"
    changed = [
        name
        for name, tensor in result.model.state_dict().items()
        if not name.startswith("backbone.") and not torch.equal(tensor, start.state_dict()[name])
    ]
    assert any(n.startswith("point_head.") for n in changed) and any(n.startswith("camera_head.") for n in changed)
    assert any(n.startswith("blocks.") for n in changed)


@pytest.mark.slow
def test_the_random_start_switch_reads_no_file_and_keeps_the_architecture(pretrained, tmp_path, capsys):
    overrides = [*TINY, {"data": {"source": "synthetic", "sources": []}}]
    from_weights = build_recon_model(
        load_recon_config("paper", [*overrides, {"model": {"backbone_weights": str(pretrained)}}]).model
    )
    from_scratch = build_recon_model(load_recon_config("paper", overrides).model)
    shapes = {name: tensor.shape for name, tensor in from_weights.state_dict().items()}
    assert {name: tensor.shape for name, tensor in from_scratch.state_dict().items()} == shapes
    assert from_scratch.config_dict()["backbone"] == from_weights.config_dict()["backbone"]
    # the switch on a command that names a weights file: the file is not opened (it is not even a weights file)
    garbage = tmp_path / "not-weights.pth"
    garbage.write_bytes(b"not a checkpoint")
    synthetic = ["--data", "synthetic", "--set", "data.sources=[]", "--set", "data.synthetic_scenes=4"]
    flags = ["--backbone-weights", garbage, "--set", "model.backbone_weights=null", "--steps", 1, *synthetic]
    code, err = run_cli(["recon", "train", "--recipe", "paper", "--out", tmp_path / "run", *flags, *TINY_FLAGS], capsys)
    assert code == 0, err
    code, err = run_cli(
        ["recon", "train", "--recipe", "paper", "--out", tmp_path / "run2", "--backbone-weights", garbage]
        + ["--steps", 1, *synthetic, *TINY_FLAGS],
        capsys,
    )
    assert code == 2 and "not-weights.pth" in err and len(err.strip().splitlines()) == 1
