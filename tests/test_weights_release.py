"""Released .pth files (``muskie.weights.release``): loaded strictly with their config inferred from the
shapes, clear errors naming the file and the keys, and pickles refused unless asked for."""

import argparse

import pytest
import torch
from fixtures import SMALL_MUSKIE, small_muskie

from muskie.model import Muskie, MuskieConfig, create_model
from muskie.weights import infer_config, load_into

CONFIG = SMALL_MUSKIE


@pytest.fixture(scope="module")
def model():
    return small_muskie()


def assert_same_model(a, b):
    assert a.state_dict().keys() == b.state_dict().keys()
    for key, tensor in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[key], tensor, rtol=0, atol=0)


@pytest.mark.parametrize("wrapped", [True, False])
def test_released_pth_loads_and_infers_its_config(tmp_path, model, wrapped):
    path = tmp_path / "muskie-release.pth"
    sd = model.state_dict()
    torch.save({"model": sd, "epoch": 3, "optimizer": {"state": {}}} if wrapped else sd, path)
    loaded = Muskie.from_pretrained(path)
    assert loaded.config == CONFIG
    assert_same_model(model, loaded)
    assert create_model("tiny", pretrained=path, depth=2, patch_size=4).config == CONFIG


def test_infer_config_reads_the_shapes(model):
    config = MuskieConfig.from_dict(infer_config(model.state_dict()))
    assert (config.embed_dim, config.depth, config.num_heads, config.patch_size) == (128, 2, 4, 4)
    assert config.mlp_ratio == 4.0 and config.num_registers == 4


def test_checkpoint_of_another_preset_is_refused_naming_file_and_shapes(tmp_path, model):
    path = tmp_path / "tiny-like.pth"
    torch.save(model.state_dict(), path)
    with pytest.raises(ValueError) as err:
        create_model("small", pretrained=path)
    message = str(err.value)
    assert str(path) in message
    assert "width 128, 2 AA blocks" in message and "preset 'small'" in message and "width 384, 6 AA blocks" in message
    # the same file loaded into a model directly: the keys and shapes are named
    with pytest.raises(ValueError) as err:
        load_into(Muskie(MuskieConfig(embed_dim=384, depth=3, num_heads=6)), torch.load(path), str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: checkpoint does not fit the model (width 384, 3 AA blocks")
    assert (
        "shape mismatches (" in message
        and "patch_embed.proj.weight (128, 3, 4, 4) vs model (384, 3, 16, 16)" in message
    )
    assert "missing keys (" in message and "blocks.2.norm1.weight" in message


def test_missing_and_extra_keys_are_named(tmp_path, model):
    sd = dict(model.state_dict())
    del sd["blocks.1.norm3.weight"]
    sd["blocks.1.layer_scale.gamma"] = torch.ones(128)
    path = tmp_path / "edited.pth"
    torch.save({"model": sd}, path)
    with pytest.raises(
        ValueError,
        match=r"missing keys \(1\): blocks.1.norm3.weight; unexpected keys \(1\): blocks.1.layer_scale.gamma",
    ):
        Muskie.from_pretrained(path)


def test_unknown_width_cannot_be_inferred(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save(Muskie(MuskieConfig(embed_dim=32, depth=1, num_heads=2)).state_dict(), path)
    with pytest.raises(ValueError, match="width 32 matches no preset"):
        Muskie.from_pretrained(path)


def test_not_a_muskie_state_dict(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ValueError, match="not a Muskie state_dict"):
        Muskie.from_pretrained(path)
    sd = Muskie(CONFIG).state_dict()
    sd["patch_embed.proj.weight"] = sd["patch_embed.proj.weight"].flatten(1)
    torch.save(sd, path)
    with pytest.raises(ValueError, match="unexpected shapes"):
        Muskie.from_pretrained(path)
    torch.save({"model": {"a": 1}}, path)
    with pytest.raises(ValueError, match="not tensors: a"):
        Muskie.from_pretrained(path)


def test_truncated_files_are_refused_with_their_path(tmp_path, model):
    pth = tmp_path / "cut.pth"
    torch.save(model.state_dict(), pth)
    pth.write_bytes(pth.read_bytes()[: pth.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{pth}: cannot read the checkpoint"):
        Muskie.from_pretrained(pth)


class _WritesAFile:
    """Unpickling this runs ``open(target, "w")``: code execution, which loading must not allow."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_pickled_code_does_not_run_by_default(tmp_path, model):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "malicious.pth"
    torch.save({"model": model.state_dict(), "payload": _WritesAFile(target)}, path)
    with pytest.raises(ValueError, match="allow_pickle=True"):
        Muskie.from_pretrained(path)
    assert not target.exists()


def test_training_checkpoint_with_argparse_args_needs_allow_pickle(tmp_path, model):
    path = tmp_path / "checkpoint-399.pth"
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=2e-4), "epoch": 399}, path)
    with pytest.raises(ValueError, match=r"--allow-pickle"):
        Muskie.from_pretrained(path)
    with pytest.warns(UserWarning, match="weights_only=False"):
        loaded = Muskie.from_pretrained(path, allow_pickle=True)
    assert_same_model(model, loaded)
