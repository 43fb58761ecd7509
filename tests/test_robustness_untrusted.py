"""Untrusted files: a crafted pickle runs no code through any loading entry point unless the user allows
pickles explicitly (``allow_pickle=True`` / ``--allow-pickle``), and then only the release's format loads."""

import argparse

import numpy as np
import pytest
import torch

from muskie.cli.main import main
from muskie.data.depth_codecs import read_depth
from muskie.data.imageio import ImageReadError
from muskie.loading import load_model
from muskie.model import Muskie, MuskieConfig
from muskie.weights.checkpoint import LATEST_NAME

# width 128 is the tiny preset's, so released-style files resolve to its 4 heads
CONFIG = MuskieConfig(embed_dim=128, depth=1, num_heads=4, patch_size=8)


class _CreatesFile:
    """Unpickling this calls ``open(target, "w")``: code execution, which loading must not allow."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.fixture
def malicious(tmp_path):
    """A release-shaped ``.pth`` (real weights) carrying a payload, and the file the payload would create."""
    target = tmp_path / "pwned"
    path = tmp_path / "release.pth"
    torch.save({"model": Muskie(CONFIG).state_dict(), "args": _CreatesFile(target)}, path)
    return path, target


def test_muskie_from_pretrained_and_load_model_refuse_the_payload(malicious):
    path, target = malicious
    for load in (Muskie.from_pretrained, load_model):
        with pytest.raises(ValueError, match=f"{path}: the file holds pickled Python objects.*allow_pickle=True"):
            load(path)
        assert not target.exists()


def test_training_resume_refuses_the_payload(malicious, tmp_path, capsys):
    path, target = malicious
    run = tmp_path / "run"
    run.mkdir()
    (run / LATEST_NAME).write_bytes(path.read_bytes())
    code = main(
        [
            "pretrain",
            "--out",
            str(run),
            "--preset",
            "tiny",
            "--device",
            "cpu",
            "--steps",
            "1",
            "--set",
            "data.resolutions=[[[32, 32]]]",
            "--no-progress",
        ]
    )
    assert code == 2
    assert f"{run / LATEST_NAME}: not a readable checkpoint" in capsys.readouterr().err
    assert not target.exists()


def test_released_format_loads_only_behind_allow_pickle(tmp_path, capsys):
    model = Muskie(CONFIG)
    path = tmp_path / "checkpoint-399.pth"
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=2e-4), "epoch": 399}, path)
    with pytest.raises(ValueError, match="--allow-pickle"):
        load_model(path)
    with pytest.warns(UserWarning, match="runs code stored in the file"):
        loaded = load_model(path, allow_pickle=True)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    # the command line: refused without the flag, read with it
    argv = ["eval", "masked-views", "--checkpoint", str(path), "--out", str(tmp_path / "rec"), "--samples", "0"]
    assert main(argv) == 2 and "--samples" in capsys.readouterr().err  # argument checks come first
    argv[-1] = "1"
    assert main([*argv, "--scenes", str(tmp_path / "none")]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="weights_only=False"):
        assert main([*argv, "--scenes", str(tmp_path / "none"), "--allow-pickle"]) == 2
    assert f"{tmp_path / 'none'}: no such file or directory" in capsys.readouterr().err, "got past the weights"


def test_pickled_depth_array_is_refused(tmp_path):
    path = tmp_path / "depth.npy"
    np.save(path, np.array([_CreatesFile(tmp_path / "pwned")], dtype=object), allow_pickle=True)
    with pytest.raises(ImageReadError, match="depth.npy: cannot read depth array"):
        read_depth(path)
    assert not (tmp_path / "pwned").exists()


def test_a_file_of_random_bytes_is_called_unreadable_not_pickled(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)))
    with pytest.raises(
        ValueError, match="noise.pth: cannot read the checkpoint, the file may be truncated or not a PyTorch file"
    ) as error:
        load_model(path)
    assert "pickled" not in str(error.value)
