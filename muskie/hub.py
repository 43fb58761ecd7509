"""``load_model``: one call for every kind of Muskie weights file.

- a folder written by ``Muskie.save_pretrained`` (``model.safetensors`` + ``config.json``), such as the
  ``model/`` folder a finished pre-training run writes;
- a training checkpoint written by ``muskie pretrain`` (``checkpoint-last.pt``);
- a released Muskie-B/L checkpoint (``.pth``), see ``Muskie.from_pretrained``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from muskie.model import Muskie
from muskie.model.config import preset_config
from muskie.train.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_training_checkpoint


def _is_training_checkpoint(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        payload = torch.load(path, map_location="meta", weights_only=True)
    except Exception:  # not ours (a release file with pickled args, or corrupt): let from_pretrained say why
        return False
    return isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT


def load_model(path: str | Path, allow_pickle: bool = False, map_location: str = "cpu") -> Muskie:
    """The Muskie model stored at ``path`` (any format above), in eval mode on ``map_location``.

    ``map_location``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; an unknown or unavailable device is a ValueError.
    ``allow_pickle`` is passed to ``Muskie.from_pretrained`` for released training checkpoints, which pickle
    their arguments: set it only for files you trust.
    """
    from muskie.train.pretrain import resolve_device

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or folder")
    map_location = resolve_device(map_location)  # a bad device name fails here, before any loading
    if _is_training_checkpoint(path):
        state = load_training_checkpoint(path, map_location=map_location)
        config = state["config"]
        if config.get("kind") == "recon":
            raise CheckpointError(f"{path}: a reconstruction checkpoint; load it with muskie.recon.load_recon_model")
        model = Muskie(preset_config(config["model"], **config.get("model_overrides", {})))
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(f"{path}: weights do not match the config it carries ({err})") from err
    else:
        model = Muskie.from_pretrained(path, allow_pickle=allow_pickle)
    return model.to(map_location).eval()
