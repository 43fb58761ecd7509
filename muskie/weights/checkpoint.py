"""Training checkpoints: self-describing, written atomically, read without unpickling arbitrary objects.

A checkpoint is one ``torch.save`` file of tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)``. Version 2 (written by :func:`save_checkpoint`)::

    {"format": "muskie-train", "version": 2,
     "task": str,          # the training task: "pretrain", "recon", ...
     "step": int,          # optimiser steps done
     "model_class": str,   # the model's class name, as muskie.loading registers it ("Muskie", "ReconModel")
     "model_config": dict, # the model's config_dict(): enough to build it without any other file
     "model": state_dict, "optimizer": state_dict | None,
     "config": dict,       # the run's full config, compared on resume
     "metrics": dict,      # the last logged values
     "metadata": dict,     # facts about the trained model for its users, e.g. {"image_size": [H, W]}
     "state": dict}        # further engine state, plain values

Version 1 (muskie 0.1.0) had only ``step``, ``model``, ``optimizer``, ``config`` and ``metrics``;
:func:`read_checkpoint` upgrades such files in memory (see :func:`upgrade_v1`).
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from muskie.devices import resolve_device
from muskie.outputs import NoSpaceLeftError, with_umask_permissions

CHECKPOINT_FORMAT = "muskie-train"
CHECKPOINT_VERSION = 2
LATEST_NAME = "checkpoint-last.pt"

# The presets as version-1 files meant them (muskie 0.1.0's table and MuskieConfig defaults): a v1
# pre-training checkpoint names a preset instead of carrying its model's config. Frozen here, so that a
# later change of a preset cannot change what an old file holds.
_V1_MODEL_DEFAULTS = {
    "patch_size": 16,
    "mlp_ratio": 4.0,
    "num_registers": 4,
    "rope_base": 100.0,
    "cross_view": True,
    "grad_checkpointing": False,
}
_V1_PRESETS = {
    "tiny": {"embed_dim": 128, "depth": 4, "num_heads": 4, "patch_size": 8},
    "small": {"embed_dim": 384, "depth": 6, "num_heads": 6},
    "base": {"embed_dim": 768, "depth": 6, "num_heads": 12},
    "large": {"embed_dim": 1024, "depth": 12, "num_heads": 16},
    "huge": {"embed_dim": 1280, "depth": 16, "num_heads": 16},
}


class CheckpointError(ValueError):
    """A checkpoint file that is truncated, corrupt, of an unsupported version, or not a muskie training
    checkpoint."""


@dataclass
class Checkpoint:
    """The contents of a training checkpoint (any version, upgraded to version 2's fields).

    ``model_state`` and ``optimizer_state`` are the ``"model"`` and ``"optimizer"`` entries of the file;
    ``version`` is the version the file was written in.
    """

    path: Path
    version: int
    task: str
    step: int
    model_class: str
    model_config: dict
    model_state: dict
    config: dict
    optimizer_state: dict | None = None
    metrics: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """Save ``obj`` to ``path`` so that ``path`` is either the old file or the complete new one.

    Writes a temporary file in the same folder, flushes it to disk, then renames it over ``path``
    (``os.replace`` is atomic on POSIX), and syncs the folder so the rename survives a power cut. A full
    disk raises :class:`muskie.outputs.NoSpaceLeftError` naming the folder (torch itself reports only an
    ``inline_container.cc`` position mismatch).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with_umask_permissions(tmp_name)
        with os.fdopen(fd, "wb") as handle:
            writer = _ErrorRecordingWriter(handle)
            try:
                torch.save(obj, writer)
                handle.flush()
                os.fsync(handle.fileno())
            except (OSError, RuntimeError) as err:
                cause = writer.error or err
                if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
                    raise NoSpaceLeftError(
                        f"no space left on {path.parent}: {path.name} was not written"
                        + (" (the previous one is kept)" if path.exists() else "")
                    ) from None
                raise
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


def save_checkpoint(
    path: str | os.PathLike,
    *,
    task: str,
    step: int,
    model_class: str,
    model_config: dict,
    model_state: dict,
    config: dict,
    optimizer_state: dict | None = None,
    metrics: dict | None = None,
    metadata: dict | None = None,
    state: dict | None = None,
) -> None:
    """Write a version-2 training checkpoint atomically (fields in the module docstring).

    Every value must be a tensor or a plain Python value (dict, list, str, number, bool, None), so that the
    file loads with ``weights_only=True``.
    """
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "task": str(task),
            "step": int(step),
            "model_class": str(model_class),
            "model_config": model_config,
            "model": model_state,
            "optimizer": optimizer_state,
            "config": config,
            "metrics": metrics or {},
            "metadata": metadata or {},
            "state": state or {},
        },
        path,
    )


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a training checkpoint of version 1 or 2; never unpickles arbitrary objects.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``map_location`` names no device this machine has (:func:`muskie.devices.resolve_device`).
        CheckpointError: the file is truncated, corrupt, of another format or of an unsupported version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if not isinstance(map_location, torch.device):
        map_location = resolve_device(map_location)  # a bad device is the device's error, not the file's
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not is_checkpoint_payload(payload):
        raise CheckpointError(
            f"{path}: not a muskie training checkpoint (for released or exported weights use muskie.load_model)"
        )
    return parse_checkpoint(payload, path)


class _ErrorRecordingWriter:
    """A file's ``write`` that remembers the OSError it raised: torch.save turns it into a RuntimeError
    that no longer says why."""

    def __init__(self, handle):
        self.handle, self.error = handle, None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.handle.flush()


def is_checkpoint_payload(content: Any) -> bool:
    """Whether a loaded file's content is a muskie training checkpoint (of any version)."""
    return isinstance(content, dict) and content.get("format") == CHECKPOINT_FORMAT


def parse_checkpoint(payload: dict, path: str | os.PathLike) -> Checkpoint:
    """The :class:`Checkpoint` of a loaded file's content (see :func:`is_checkpoint_payload`), version 1
    upgraded; a CheckpointError names ``path`` when the content is malformed or of an unknown version."""
    path = Path(path)
    version = payload.get("version")
    if version == 1:
        payload = upgrade_v1(payload, path)
    elif version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {version!r} is not supported (this muskie reads "
            f"versions 1 to {CHECKPOINT_VERSION}; a newer muskie wrote it?)"
        )
    expected = {
        "task": str,
        "step": int,
        "model_class": str,
        "model_config": dict,
        "model": dict,
        "optimizer": (dict, type(None)),
        "config": dict,
        "metrics": dict,
        "metadata": dict,
        "state": dict,
    }
    wrong = [key for key, kind in expected.items() if not isinstance(payload.get(key), kind)]
    if wrong:
        raise CheckpointError(f"{path}: malformed checkpoint, missing or mistyped entries: {', '.join(wrong)}")
    return Checkpoint(
        path=path,
        version=int(version),
        task=payload["task"],
        step=payload["step"],
        model_class=payload["model_class"],
        model_config=payload["model_config"],
        model_state=payload["model"],
        config=payload["config"],
        optimizer_state=payload["optimizer"],
        metrics=payload["metrics"],
        metadata=payload["metadata"],
        state=payload["state"],
    )


def upgrade_v1(payload: dict, path: str | os.PathLike) -> dict:
    """A version-1 checkpoint's content with version 2's entries.

    - a reconstruction checkpoint (``config = {"kind": "recon", "recon": <ReconTrainConfig dict>,
      "backbone": <MuskieConfig dict>}``) becomes task ``"recon"``, class ``"ReconModel"`` with config
      ``{"backbone": <MuskieConfig dict>, "head": <ReconModelConfig dict>}``, run config the old
      ``config["recon"]`` and metadata ``{"image_size": config["recon"]["data"]["size"]}``;
    - any other is a pre-training checkpoint (``config`` a PretrainConfig dict naming a preset in
      ``"model"`` and its changes in ``"model_overrides"``): task ``"pretrain"``, class ``"Muskie"``
      with the preset's config, run config unchanged.
    """
    config = payload.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: malformed version-1 checkpoint (its 'config' is not a mapping)")
    upgraded = {**payload, "version": 1, "metadata": {}, "state": {}}
    if config.get("kind") == "recon":
        recon = config.get("recon")
        if not isinstance(recon, dict) or not isinstance(config.get("backbone"), dict):
            raise CheckpointError(
                f"{path}: malformed version-1 reconstruction checkpoint (no 'recon' or 'backbone' config)"
            )
        size = (recon.get("data") or {}).get("size")
        upgraded.update(
            task="recon",
            model_class="ReconModel",
            config=recon,
            model_config={"backbone": config["backbone"], "head": recon.get("model", {})},
            metadata={"image_size": list(size)} if size is not None else {},
        )
    else:
        preset = config.get("model")
        if preset not in _V1_PRESETS:
            raise CheckpointError(
                f"{path}: version-1 pre-training checkpoint of unknown preset {preset!r} "
                f"(known: {', '.join(_V1_PRESETS)})"
            )
        overrides = config.get("model_overrides") or {}
        if not isinstance(overrides, dict):
            raise CheckpointError(f"{path}: malformed version-1 checkpoint ('model_overrides' is not a mapping)")
        size = _V1_PRESETS[preset]
        defaults = {key: value for key, value in _V1_MODEL_DEFAULTS.items() if key not in size}
        upgraded.update(task="pretrain", model_class="Muskie", model_config={**size, **defaults, **overrides})
    return upgraded
