"""``read_weights``: every kind of weights file, read once, as one :class:`WeightsFile`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from muskie.weights.checkpoint import is_checkpoint_payload, parse_checkpoint
from muskie.weights.folder import CONFIG_FILE, read_folder, read_safetensors
from muskie.weights.release import HEAD_PREFIXES, infer_config, read_torch_file, release_state_dict
from muskie.weights.strict import check_config_fits

FILE_KINDS = ("folder", "safetensors", "checkpoint", "release")


@dataclass
class WeightsFile:
    """What a weights file holds, whatever its kind.

    Attributes:
        source: the path read, as given.
        file_kind: ``"folder"`` (ours: ``config.json`` + ``model.safetensors``), ``"safetensors"`` (a bare
            weights file), ``"checkpoint"`` (a muskie training checkpoint, any version and task) or
            ``"release"`` (the release's ``.pth``: a bare state_dict or a dict with a ``model`` entry).
        model_class: the class name of the model the weights belong to (``"Muskie"``, ``"MuskieBackbone"``,
            ``"ReconModel"``), as ``muskie.loading`` registers it.
        model_config: that class's config dict (``from_config_dict`` builds the model from it); for files
            that carry none (``safetensors``, ``release``) the Muskie config their shapes imply.
        state_dict: the weights, tensors on the CPU.
        task, step: the training task (``"pretrain"``, ``"recon"``) and step of a training checkpoint; None
            for other files.
        metadata: facts about the trained model a training checkpoint or folder records for its users (e.g.
            ``{"image_size": [H, W]}`` for reconstruction); empty for other files.
        config_source: where ``model_config`` was read (a folder's ``config.json``), for messages.
    """

    source: str
    file_kind: str
    model_class: str
    model_config: dict
    state_dict: dict[str, torch.Tensor]
    task: str | None = None
    step: int | None = None
    metadata: dict = field(default_factory=dict)
    config_source: str = ""

    def __post_init__(self):
        self.config_source = self.config_source or self.source


def read_weights(path: str | os.PathLike, *, allow_pickle: bool = False) -> WeightsFile:
    """Read any weights file or folder muskie knows, once, and check its config against its tensors.

    ``path``: one of our folders, a ``.safetensors`` file, a training checkpoint written by any muskie
    training task (format versions 1 and 2), or a released ``.pth``. Nothing is unpickled unless
    ``allow_pickle`` (runs code stored in the file: only for files you trust; a warning is issued), which
    the release's training checkpoints need for their pickled arguments.

    Raises FileNotFoundError for a missing path, and a ValueError naming the file when it cannot be read,
    holds no Muskie weights, or carries a config that does not fit its tensors (checked before any model is
    built, see :mod:`muskie.weights.strict`).
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or directory")
    if path.is_dir():
        model_class, model_config, state_dict, metadata = read_folder(path)
        weights = WeightsFile(
            source,
            "folder",
            model_class or _muskie_class(state_dict),
            model_config,
            state_dict,
            metadata=metadata,
            config_source=str(path / CONFIG_FILE),
        )
    elif path.suffix == ".safetensors":
        state_dict = read_safetensors(path)
        weights = WeightsFile(
            source, "safetensors", _muskie_class(state_dict), infer_config(state_dict, source), state_dict
        )
    else:
        content = read_torch_file(path, allow_pickle)
        if is_checkpoint_payload(content):
            checkpoint = parse_checkpoint(content, path)
            weights = WeightsFile(
                source,
                "checkpoint",
                checkpoint.model_class,
                checkpoint.model_config,
                checkpoint.model_state,
                task=checkpoint.task,
                step=checkpoint.step,
                metadata=checkpoint.metadata,
            )
        else:
            state_dict = release_state_dict(content, source)
            weights = WeightsFile(
                source, "release", _muskie_class(state_dict), infer_config(state_dict, source), state_dict
            )
    if not all(isinstance(t, torch.Tensor) for t in weights.state_dict.values()):
        raise ValueError(f"{path}: the weights hold entries that are not tensors")
    check_config_fits(weights.model_class, weights.model_config, weights.state_dict, source)
    return weights


def _muskie_class(state_dict: dict) -> str:
    """The Muskie class of weights that do not name theirs: with the pixel head a Muskie, else a bare backbone."""
    return "Muskie" if any(key.startswith(HEAD_PREFIXES) for key in state_dict) else "MuskieBackbone"
