"""``read_weights`` (``muskie.weights.reader``): every kind of file read once into one ``WeightsFile``, and
configs that do not fit their tensors refused before any model is built."""

import ast
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import muskie.weights.folder
from muskie.loading import load_model
from muskie.model import Muskie, MuskieBackbone, MuskieConfig
from muskie.recon.config import ReconModelConfig
from muskie.recon.model import ReconModel
from muskie.weights import read_weights, save_checkpoint

# width 128 is the tiny preset's, so the heads of released-style files resolve to 4
CONFIG = MuskieConfig(embed_dim=128, depth=1, num_heads=4, patch_size=8)
V1 = Path(__file__).resolve().parent / "data" / "checkpoints_v1"
PACKAGE = Path(__file__).resolve().parent.parent / "muskie" / "weights"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Muskie(CONFIG)


def write(kind: str, model, folder: Path) -> Path:
    """``model`` written as a file of ``kind`` in ``folder``."""
    if kind == "folder":
        return model.save_pretrained(folder / "model")
    if kind == "safetensors":
        save_file(model.state_dict(), str(folder / "model.safetensors"))
        return folder / "model.safetensors"
    if kind == "checkpoint":
        save_checkpoint(
            folder / "ckpt.pt",
            task="pretrain",
            step=7,
            model_class=type(model).__name__,
            model_config=model.config_dict(),
            model_state=model.state_dict(),
            config={},
        )
        return folder / "ckpt.pt"
    torch.save(
        {"model": model.state_dict(), "epoch": 3} if kind == "release" else model.state_dict(), folder / "release.pth"
    )
    return folder / "release.pth"


@pytest.mark.parametrize("kind", ["folder", "safetensors", "checkpoint", "release", "bare-release"])
def test_every_kind_of_file_reads_as_one_weights_file(tmp_path, model, kind):
    path = write(kind, model, tmp_path)
    weights = read_weights(path)
    assert weights.source == str(path) and weights.file_kind == kind.removeprefix("bare-")
    assert weights.model_class == "Muskie"
    assert MuskieConfig.from_dict(weights.model_config) == CONFIG
    assert weights.state_dict.keys() == model.state_dict().keys()
    assert (weights.task, weights.step) == (("pretrain", 7) if kind == "checkpoint" else (None, None))


def test_weights_without_a_pixel_head_are_a_bare_backbone(tmp_path, model):
    bare = {k: t for k, t in model.state_dict().items() if not k.startswith("decoder_")}
    torch.save(bare, tmp_path / "bare.pth")
    assert read_weights(tmp_path / "bare.pth").model_class == "MuskieBackbone"
    backbone = MuskieBackbone(CONFIG).save_pretrained(tmp_path / "backbone")
    assert read_weights(backbone).model_class == "MuskieBackbone"
    (backbone / "config.json").write_text(json.dumps(CONFIG.to_dict()))  # a muskie 0.1.0 backbone folder
    assert read_weights(backbone).model_class == "MuskieBackbone"


@pytest.mark.parametrize(
    "name, kind, task, model_class",
    [
        ("pretrain.pt", "checkpoint", "pretrain", "Muskie"),
        ("recon.pt", "checkpoint", "recon", "ReconModel"),
        ("model", "folder", None, "Muskie"),
    ],
)
def test_version_1_files(name, kind, task, model_class):
    weights = read_weights(V1 / name)
    assert (weights.file_kind, weights.task, weights.model_class) == (kind, task, model_class)
    assert weights.metadata == ({"image_size": [8, 8]} if task == "recon" else {})


@pytest.mark.parametrize("kind", ["checkpoint", "release"])
def test_a_file_is_read_once(tmp_path, model, kind, monkeypatch):
    path = write(kind, model, tmp_path)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(args) or real_load(*args, **kwargs))
    read_weights(path)
    assert len(calls) == 1
    load_model(path)
    assert len(calls) == 2, "load_model reads the file once too"


def test_a_folder_is_read_once(tmp_path, model, monkeypatch):
    path = write("folder", model, tmp_path)
    calls = []
    real_load = muskie.weights.folder.load_file
    monkeypatch.setattr(muskie.weights.folder, "load_file", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a folder needs no torch.load"))
    load_model(path)
    assert len(calls) == 1


@pytest.fixture
def no_model_is_built(monkeypatch):
    """Building any Muskie model fails the test: what is refused must be refused before."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(MuskieBackbone, "__init__", refuse)


def test_a_crafted_block_index_is_refused_before_any_model_is_built(tmp_path, model, no_model_is_built):
    state = dict(model.state_dict())
    state["blocks.100000.norm1.weight"] = torch.ones(128)
    path = tmp_path / "crafted.pth"
    torch.save(state, path)
    message = rf"{path}: the blocks.N.\* keys number blocks 0, 100000, not 0 to 1: the file is damaged"
    for load in (read_weights, Muskie.from_pretrained, load_model):
        with pytest.raises(ValueError, match=message):
            load(path)


@pytest.mark.parametrize(
    "field, value, said",
    [
        ("embed_dim", 2**20, "embed_dim 1048576 but the weights have 128"),
        ("depth", 100_000, "depth 100000 but the weights have 1 blocks"),
        ("mlp_ratio", 1e6, "mlp_ratio 1000000.0 but the weights have an MLP of 512 for width 128"),
    ],
)
def test_a_huge_config_is_refused_before_any_model_is_built(tmp_path, model, field, value, said, no_model_is_built):
    directory = model.save_pretrained(tmp_path / "model")
    (directory / "config.json").write_text(json.dumps({**CONFIG.to_dict(), field: value}))
    for load in (read_weights, Muskie.from_pretrained, load_model):
        with pytest.raises(ValueError, match=f"{directory}: the config does not fit the weights \\({said}\\)"):
            load(directory)


@pytest.mark.parametrize(
    "part, field, value, said",
    [
        ("decoder", "depth", 10**6, "decoder depth 1000000 but the weights have 1 blocks"),
        ("decoder", "dim", 2**20, "decoder dim 1048576 but the weights have 8"),
        ("encoder", "depth", 10**6, "depth 1000000 but the weights have 1 blocks"),
    ],
)
def test_a_huge_peer_config_is_refused_before_any_model_is_built(tmp_path, part, field, value, said, monkeypatch):
    from muskie.peers.encoder import DecoderConfig, PeerModelConfig
    from muskie.peers.mae import MAEModel

    peer = MAEModel(
        PeerModelConfig(
            MuskieConfig(embed_dim=8, depth=1, num_heads=1, patch_size=4, cross_view=False),
            DecoderConfig(dim=8, depth=1, num_heads=2),
        )
    )
    config = peer.config_dict()
    config[part][field] = value  # built, a million decoder blocks would take minutes and gigabytes
    path = tmp_path / "peer.pt"
    save_checkpoint(
        path,
        task="pretrain",
        step=1,
        model_class="MAEModel",
        model_config=config,
        model_state=peer.state_dict(),
        config={},
    )
    monkeypatch.setattr(MuskieBackbone, "__init__", lambda *a, **k: pytest.fail("a model was built"))
    for load in (read_weights, load_model):
        with pytest.raises(ValueError, match=f"{path}: the config does not fit the weights \\({said}\\)"):
            load(path)


def test_a_width_the_reader_does_not_check_is_caught_on_the_meta_device(tmp_path):
    small = ReconModel(
        MuskieBackbone(MuskieConfig(embed_dim=8, depth=2, num_heads=1, patch_size=4)),
        ReconModelConfig(dpt_dim=4, camera_dim=4),
    )
    directory = small.save_pretrained(tmp_path / "recon")
    config = json.loads((directory / "config.json").read_text())
    config["head"]["dpt_dim"] = 100_000  # built for real, the DPT head alone would take terabytes
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"{directory}: checkpoint does not fit the model .*shape mismatches"):
        load_model(directory)


def test_the_weights_package_imports_no_model_code():
    allowed = ("torch", "safetensors", "muskie.constants", "muskie.devices", "muskie.outputs", "muskie.weights")
    for module in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            for name in names:
                if name.split(".")[0] in ("torch", "safetensors", "muskie"):
                    assert name.startswith(allowed), f"{module.name} imports {name}"
