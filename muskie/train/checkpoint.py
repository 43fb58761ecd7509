"""Training checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``:
``{"format": "muskie-train", "version": 1, "step": int, "model": state_dict, "optimizer": state_dict,
"config": dict, "metrics": dict}``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT = "muskie-train"
CHECKPOINT_VERSION = 1
LATEST_NAME = "checkpoint-last.pt"


class CheckpointError(ValueError):
    """A checkpoint file that is missing, truncated, or not a muskie training checkpoint."""


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """Save ``obj`` to ``path`` so that ``path`` is either the old file or the complete new one.

    Writes a temporary file in the same folder, flushes it to disk, then renames it over ``path``
    (``os.replace`` is atomic on POSIX), and syncs the folder so the rename survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writes of ``path`` killed mid-way (SIGKILL, power cut) left behind.

    Only call this while no other process can be writing ``path`` (a training run holds its folder's lock).
    Returns the files removed.
    """
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def save_training_checkpoint(path, *, step: int, model_state: dict, optimizer_state: dict, config: dict,
                             metrics: dict | None = None) -> None:
    """Write a training checkpoint atomically (see the module docstring for its contents)."""
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": int(step),
            "model": model_state,
            "optimizer": optimizer_state,
            "config": config,
            "metrics": metrics or {},
        },
        path,
    )


def load_training_checkpoint(path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_training_checkpoint`; never unpickles arbitrary objects.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is truncated, corrupt, or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a muskie training checkpoint (for released or exported weights use Muskie.from_pretrained)"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')} is not supported")
    return payload
