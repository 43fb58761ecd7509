"""Our weights folder (``muskie.weights.folder``): ``config.json`` + ``model.safetensors``, written by
``save_pretrained`` and read back strictly, in the same format as muskie 0.1.0's folders."""

import json
from pathlib import Path

import pytest
import torch
from fixtures import SMALL_MUSKIE, small_filesystem, small_muskie

from muskie.model import Muskie, MuskieBackbone, MuskieConfig
from muskie.outputs import NoSpaceLeftError

CONFIG = SMALL_MUSKIE
V1_FOLDER = Path(__file__).resolve().parent / "data" / "checkpoints_v1" / "model"


@pytest.fixture(scope="module")
def model():
    return small_muskie()


def images():
    return torch.rand(1, 2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1


def assert_same_model(a, b):
    assert a.state_dict().keys() == b.state_dict().keys()
    for key, tensor in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[key], tensor, rtol=0, atol=0)


def test_save_and_load_round_trip(tmp_path, model):
    directory = model.save_pretrained(tmp_path / "run" / "final")
    assert sorted(p.name for p in directory.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((directory / "config.json").read_text())["embed_dim"] == 128
    loaded = Muskie.from_pretrained(directory).eval()
    assert loaded.config == model.config
    assert_same_model(model, loaded)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images()).pred, model(images()).pred, rtol=0, atol=0)
    frame_wise = Muskie.from_pretrained(directory, cross_view=False)
    assert not frame_wise.config.cross_view


def test_backbone_loads_a_full_checkpoint_but_not_the_reverse(tmp_path, model):
    directory = model.save_pretrained(tmp_path / "full")
    backbone = MuskieBackbone.from_pretrained(directory)
    assert type(backbone) is MuskieBackbone and not hasattr(backbone, "decoder_pred")
    torch.testing.assert_close(backbone.blocks[1].global_atten.qkv.weight, model.blocks[1].global_atten.qkv.weight)
    backbone.save_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match=r"missing keys \(4\): decoder_norm.weight, decoder_norm.bias"):
        Muskie.from_pretrained(tmp_path / "bare")


def test_missing_paths_and_bad_config_files(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        Muskie.from_pretrained(tmp_path / "nowhere.pth")
    directory = model.save_pretrained(tmp_path / "d")
    config_path = directory / "config.json"
    config_path.write_text(json.dumps({**CONFIG.to_dict(), "width": 3}))
    with pytest.raises(ValueError, match=f"{config_path}: invalid config: unknown MuskieConfig fields: width"):
        Muskie.from_pretrained(directory)
    config_path.write_text("{not json")
    with pytest.raises(ValueError, match="invalid config"):
        Muskie.from_pretrained(directory)
    # JSON's NaN / Infinity and a string for a boolean: all-NaN outputs, RoPE off, or cross-view on, silently
    for field, text, said in (
        ("rope_base", "NaN", "expected a finite number"),
        ("rope_base", "Infinity", "expected a finite number"),
        ("cross_view", '"no"', "expected true or false"),
    ):
        config_path.write_text(
            json.dumps(CONFIG.to_dict()).replace(
                f'"{field}": {json.dumps(getattr(CONFIG, field))}', f'"{field}": {text}'
            )
        )
        assert text in config_path.read_text()
        with pytest.raises(ValueError, match=f"{config_path}: invalid config: MuskieConfig.{field}: {said}"):
            Muskie.from_pretrained(directory)
    config_path.unlink()
    with pytest.raises(FileNotFoundError, match="config.json: missing"):
        Muskie.from_pretrained(directory)


def test_truncated_weights_are_refused_with_their_path(tmp_path, model):
    directory = model.save_pretrained(tmp_path / "cut")
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"{weights}: cannot read safetensors"):
        Muskie.from_pretrained(directory)


def test_config_json_of_a_muskie_is_unchanged_and_other_classes_name_theirs(tmp_path):
    old = V1_FOLDER / "config.json"
    again = Muskie.from_pretrained(V1_FOLDER).save_pretrained(tmp_path / "again") / "config.json"
    assert again.read_bytes() == old.read_bytes(), "a Muskie folder is written exactly as muskie 0.1.0 wrote it"
    bare = MuskieBackbone(CONFIG).save_pretrained(tmp_path / "bare") / "config.json"
    assert json.loads(bare.read_text()) == {"model_class": "MuskieBackbone", **CONFIG.to_dict()}


def test_a_full_disk_leaves_no_half_written_folder(tmp_path):
    small = Muskie(MuskieConfig(embed_dim=8, depth=1, num_heads=2, patch_size=4))
    large = Muskie(MuskieConfig(embed_dim=128, depth=2, num_heads=4, patch_size=8))  # 7 MB of weights
    with small_filesystem(tmp_path / "disk") as disk:
        with pytest.raises(NoSpaceLeftError, match=f"no space left on {disk}; nothing was written to {disk}/new"):
            large.save_pretrained(disk / "new")
        assert list(disk.iterdir()) == [], "no folder, no temporary file"
        kept = small.save_pretrained(disk / "kept")
        before = {p.name: p.read_bytes() for p in kept.iterdir()}
        with pytest.raises(NoSpaceLeftError, match="no space left on"):
            large.save_pretrained(kept)
        assert {p.name: p.read_bytes() for p in kept.iterdir()} == before, "the previous weights are intact"
        assert [p.name for p in disk.iterdir()] == ["kept"]
