import os
import pickle

import pytest
import torch

from muskie.train.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    load_training_checkpoint,
    save_training_checkpoint,
)


def _save(path, step=3):
    save_training_checkpoint(path, step=step, model_state={"w": torch.arange(4.0)},
                             optimizer_state={"state": {}, "param_groups": []}, config={"model": "tiny"})


def test_round_trip(tmp_path):
    path = tmp_path / "ckpt.pt"
    _save(path)
    state = load_training_checkpoint(path)
    assert state["step"] == 3
    assert torch.equal(state["model"]["w"], torch.arange(4.0))
    assert state["config"] == {"model": "tiny"}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], "no temporary file may be left behind"


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    _save(path, step=1)

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"x": 1}, path)
    monkeypatch.undo()
    assert load_training_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.pt"
    _save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        load_training_checkpoint(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        load_training_checkpoint(tmp_path / "nothere.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a muskie training checkpoint"):
        load_training_checkpoint(foreign)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_code_is_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": "muskie-train", "payload": _Exploit()}, handle, protocol=2)
    with pytest.raises(CheckpointError):
        load_training_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
