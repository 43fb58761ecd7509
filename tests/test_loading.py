"""``muskie.load_model`` (``muskie/loading.py``): any weights file -> the model it holds, through a registry
of model classes; the version-1 files of ``tests/data/checkpoints_v1`` load forever."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import muskie
from muskie import loading
from muskie.loading import load_model, register_model_class
from muskie.model import Muskie, MuskieBackbone, MuskieConfig, create_model
from muskie.recon.config import ReconModelConfig
from muskie.recon.model import ReconModel
from muskie.weights import save_checkpoint

V1 = Path(__file__).resolve().parent / "data" / "checkpoints_v1"
SMALL = MuskieConfig(embed_dim=8, depth=2, num_heads=1, patch_size=4)


def assert_same_state(model: nn.Module, state_dict: dict):
    assert model.state_dict().keys() == state_dict.keys()
    for key, tensor in state_dict.items():
        assert torch.equal(model.state_dict()[key], tensor), key


@pytest.fixture(scope="module")
def expected():
    return torch.load(V1 / "expected.pt", weights_only=True)


def test_version_1_pretraining_checkpoint_is_the_muskie_that_was_saved(expected):
    model = load_model(V1 / "pretrain.pt")
    assert type(model) is Muskie and not model.training and model.config == SMALL
    assert_same_state(model, torch.load(V1 / "pretrain.pt", weights_only=True)["model"])
    with torch.no_grad():
        torch.testing.assert_close(model(expected["images"]).pred, expected["pretrain_pred"])
    assert_same_state(Muskie.from_pretrained(V1 / "pretrain.pt"), model.state_dict())
    from_preset = create_model("tiny", pretrained=V1 / "pretrain.pt", embed_dim=8, depth=2, num_heads=1, patch_size=4)
    assert_same_state(from_preset, model.state_dict())


def test_version_1_reconstruction_checkpoint_is_a_recon_model(expected):
    model = load_model(V1 / "recon.pt")
    assert type(model) is ReconModel and not model.training
    assert model.head_layers == [0, 0, 1, 1] and model.config.freeze_backbone
    assert_same_state(model, torch.load(V1 / "recon.pt", weights_only=True)["model"])
    with torch.no_grad():
        torch.testing.assert_close(model(expected["images"]).points, expected["recon_points"])


def test_version_1_folder_is_a_muskie(expected):
    model = load_model(V1 / "model")
    assert type(model) is Muskie and model.config == SMALL
    with torch.no_grad():
        torch.testing.assert_close(model(expected["images"]).pred, expected["pretrain_pred"])


def small_models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "Muskie": Muskie(SMALL),
        "MuskieBackbone": MuskieBackbone(SMALL.replace(cross_view=False)),
        "ReconModel": ReconModel(MuskieBackbone(SMALL), ReconModelConfig(new_blocks=2, dpt_dim=4, camera_dim=4)),
    }


@pytest.mark.parametrize("name", ["Muskie", "MuskieBackbone", "ReconModel"])
def test_a_version_2_checkpoint_and_a_folder_of_every_model_class_round_trip(tmp_path, name):
    model = small_models()[name]
    save_checkpoint(
        tmp_path / "ckpt.pt",
        task="test",
        step=5,
        model_class=name,
        model_config=model.config_dict(),
        model_state=model.state_dict(),
        config={"anything": 1},
    )
    for path in (tmp_path / "ckpt.pt", model.save_pretrained(tmp_path / "folder")):
        loaded = load_model(path)
        assert type(loaded) is type(model) and not loaded.training
        assert loaded.config_dict() == model.config_dict()
        assert_same_state(loaded, model.state_dict())


def test_from_pretrained_refuses_a_reconstruction_checkpoint():
    for load in (Muskie.from_pretrained, MuskieBackbone.from_pretrained):
        with pytest.raises(
            ValueError,
            match=r"recon.pt: holds a recon checkpoint of a ReconModel, not a Muskie "
            r"model or backbone; load it with muskie.load_model",
        ):
            load(V1 / "recon.pt")


class Toy(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.linear = nn.Linear(width, 1)

    def config_dict(self) -> dict:
        return {"width": self.width}

    @classmethod
    def from_config_dict(cls, values: dict):
        return cls(**values)


def test_a_new_model_class_registers_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "_MODEL_CLASSES", dict(loading._MODEL_CLASSES))
    toy = Toy(3)
    save_checkpoint(
        tmp_path / "toy.pt",
        task="toy",
        step=1,
        model_class="Toy",
        model_config=toy.config_dict(),
        model_state=toy.state_dict(),
        config={},
    )
    with pytest.raises(ValueError, match="toy.pt: unknown model class 'Toy'; known: Muskie, MuskieBackbone, Recon"):
        load_model(tmp_path / "toy.pt")
    register_model_class("Toy", Toy)
    assert_same_state(load_model(tmp_path / "toy.pt"), toy.state_dict())
    with pytest.raises(ValueError, match="already registered"):
        register_model_class("Muskie", Toy)


def test_bad_device_or_path_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("nothing may be read"))
    with pytest.raises(ValueError, match="device 'tpu' is not a device name"):
        load_model(V1 / "pretrain.pt", map_location="tpu")
    with pytest.raises(FileNotFoundError, match="nowhere.pt: no such checkpoint"):
        load_model(tmp_path / "nowhere.pt")


def test_muskie_load_model_is_exported_and_loading_needs_no_training_code():
    assert muskie.load_model is load_model
    code = (
        f"import sys, muskie; muskie.load_model({str(V1 / 'pretrain.pt')!r}); "
        f"muskie.load_model({str(V1 / 'recon.pt')!r}); "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('muskie.train.engine', 'muskie.recon.task', 'muskie.pretraining.task'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
