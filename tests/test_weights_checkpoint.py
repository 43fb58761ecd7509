"""Training checkpoints (``muskie.weights.checkpoint``): version 2 written atomically and read back without
unpickling, version 1 files (``tests/data/checkpoints_v1``) upgraded on reading, clear errors."""

import os
import pickle
from pathlib import Path

import pytest
import torch
from fixtures import small_filesystem

from muskie.model import MuskieConfig
from muskie.outputs import NoSpaceLeftError
from muskie.weights.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    read_checkpoint,
    save_checkpoint,
)

V1 = Path(__file__).resolve().parent / "data" / "checkpoints_v1"


def _save(path, step=3, **fields):
    save_checkpoint(
        path,
        **{
            "task": "pretrain",
            "step": step,
            "model_class": "Muskie",
            "model_config": {"embed_dim": 4},
            "model_state": {"w": torch.arange(4.0)},
            "optimizer_state": {"state": {}, "param_groups": []},
            "config": {"model": "tiny"},
            **fields,
        },
    )


def test_round_trip(tmp_path):
    path = tmp_path / "ckpt.pt"
    _save(path, metrics={"loss": 0.5}, metadata={"image_size": [8, 16]}, state={"epoch": 2})
    checkpoint = read_checkpoint(path)
    assert checkpoint.step == 3
    assert torch.equal(checkpoint.model_state["w"], torch.arange(4.0))
    assert checkpoint.config == {"model": "tiny"}
    assert (checkpoint.version, checkpoint.task, checkpoint.model_class) == (2, "pretrain", "Muskie")
    assert checkpoint.model_config == {"embed_dim": 4} and checkpoint.optimizer_state["param_groups"] == []
    assert checkpoint.metrics == {"loss": 0.5} and checkpoint.metadata == {"image_size": [8, 16]}
    assert checkpoint.state == {"epoch": 2} and checkpoint.path == path
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], "no temporary file may be left behind"


def test_the_file_is_self_describing_plain_values(tmp_path):
    path = tmp_path / "ckpt.pt"
    _save(path)
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {
        "format",
        "version",
        "task",
        "step",
        "model_class",
        "model_config",
        "model",
        "optimizer",
        "config",
        "metrics",
        "metadata",
        "state",
    }
    assert (payload["format"], payload["version"]) == ("muskie-train", 2)
    assert payload["metrics"] == payload["metadata"] == payload["state"] == {}


def test_a_full_disk_keeps_the_previous_file_and_names_the_folder(tmp_path):
    with small_filesystem(tmp_path / "disk") as disk:
        path = disk / "ckpt.pt"
        _save(path, step=1)
        with pytest.raises(
            NoSpaceLeftError,
            match=f"no space left on {disk}: ckpt.pt was not written "
            r"\(the previous one is kept\)",
        ):
            atomic_torch_save({"x": torch.zeros(1_000_000)}, path)  # 4 MB on a 256 kB filesystem
        assert read_checkpoint(path).step == 1
        assert [p.name for p in disk.iterdir()] == ["ckpt.pt"], "no temporary file left"


def test_a_device_this_machine_lacks_is_the_devices_error_not_the_files(tmp_path):
    path = tmp_path / "ckpt.pt"
    _save(path)
    device = "mps" if torch.cuda.is_available() else "cuda"
    with pytest.raises(ValueError, match=f"device '{device}' was asked for but") as raised:
        read_checkpoint(path, map_location=device)
    assert not isinstance(raised.value, CheckpointError) and str(path) not in str(raised.value)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.pt"
    _save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        read_checkpoint(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        read_checkpoint(tmp_path / "nothere.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a muskie training checkpoint"):
        read_checkpoint(foreign)


def test_unsupported_version_and_malformed_files_name_the_file(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": "muskie-train", "version": 3}, path)
    with pytest.raises(CheckpointError, match=f"{path}: checkpoint version 3 is not supported"):
        read_checkpoint(path)
    _save(path)
    payload = torch.load(path, weights_only=True)
    del payload["model_class"]
    payload["step"] = "three"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"{path}: malformed checkpoint, .*: step, model_class"):
        read_checkpoint(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_code_is_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": "muskie-train", "payload": _Exploit()}, handle, protocol=2)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------------------------ version-1 files


def test_version_1_pretraining_checkpoint_is_upgraded():
    raw = torch.load(V1 / "pretrain.pt", weights_only=True)
    checkpoint = read_checkpoint(V1 / "pretrain.pt")
    assert (checkpoint.version, checkpoint.task, checkpoint.step) == (1, "pretrain", 1)
    assert checkpoint.model_class == "Muskie"
    assert MuskieConfig.from_dict(checkpoint.model_config) == MuskieConfig(
        embed_dim=8, depth=2, num_heads=1, patch_size=4
    )
    assert checkpoint.config == raw["config"] and checkpoint.config["model"] == "tiny"
    assert checkpoint.metrics == raw["metrics"] and checkpoint.metadata == {} and checkpoint.state == {}
    assert checkpoint.model_state.keys() == raw["model"].keys()
    assert len(checkpoint.optimizer_state["state"]) == len(raw["optimizer"]["state"]) > 0


def test_version_1_reconstruction_checkpoint_is_upgraded():
    raw = torch.load(V1 / "recon.pt", weights_only=True)
    checkpoint = read_checkpoint(V1 / "recon.pt")
    assert (checkpoint.version, checkpoint.task, checkpoint.model_class) == (1, "recon", "ReconModel")
    assert checkpoint.config == raw["config"]["recon"], "the run config is the ReconTrainConfig dict"
    assert checkpoint.metadata == {"image_size": [8, 8]}
    assert checkpoint.model_config["backbone"] == raw["config"]["backbone"]
    head = checkpoint.model_config["head"]
    assert head["head_layers"] == [0, 0, 1, 1] and head["new_blocks"] == 1 and head["freeze_backbone"]
    assert len(checkpoint.optimizer_state["state"]) > 0


def test_version_1_checkpoint_of_an_unknown_preset(tmp_path):
    payload = torch.load(V1 / "pretrain.pt", weights_only=True)
    payload["config"]["model"] = "gigantic"
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="odd.pt: version-1 pre-training checkpoint of unknown preset 'gigantic'"):
        read_checkpoint(tmp_path / "odd.pt")
