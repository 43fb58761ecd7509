"""Our weights folder: ``model.safetensors`` (the state_dict) and ``config.json`` (the model's config dict);
no pickle involved.

For a :class:`~muskie.model.Muskie`, ``config.json`` is exactly ``MuskieConfig.to_dict()``, as it always
was. Other model classes add a ``"model_class"`` key naming theirs; a folder without one holds a Muskie, or
a bare ``MuskieBackbone`` when its weights have no pixel head (folders of muskie 0.1.0). Facts about the
trained model (``metadata``, e.g. the image size a reconstruction model was trained at) are stored as JSON
under the ``muskie.metadata`` key of the safetensors header, so ``config.json`` stays the model's config.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from muskie.outputs import files_into

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_CLASS_KEY = "model_class"
METADATA_KEY = "muskie.metadata"
# The class whose folders carry no model_class key (the format of muskie 0.1.0).
DEFAULT_FOLDER_CLASS = "Muskie"


def save_folder(
    directory: str | os.PathLike,
    *,
    state_dict: dict,
    model_class: str,
    model_config: dict,
    metadata: dict | None = None,
) -> Path:
    """Write ``directory/{model.safetensors, config.json}``; returns the directory.

    Both files are written beside ``directory`` first and renamed into it once complete
    (:func:`muskie.outputs.files_into`), so a failed save (a full disk: a
    :class:`muskie.outputs.NoSpaceLeftError` naming the folder) changes nothing in ``directory`` and leaves no
    half-written folder.
    """
    directory = Path(directory)
    tensors = {k: t.detach().contiguous().cpu() for k, t in state_dict.items()}
    config = model_config if model_class == DEFAULT_FOLDER_CLASS else {MODEL_CLASS_KEY: model_class, **model_config}
    header = {"format": "pt", **({METADATA_KEY: json.dumps(metadata)} if metadata else {})}
    with files_into(directory) as staging:
        try:
            save_file(tensors, str(staging / WEIGHTS_FILE), metadata=header)
        except Exception as err:  # safetensors' Rust I/O errors are not OSErrors
            if "os error 28" in str(err):  # ENOSPC
                raise OSError(errno.ENOSPC, str(err)) from None
            raise
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def read_folder(directory: str | os.PathLike) -> tuple[str | None, dict, dict[str, torch.Tensor], dict]:
    """``(model_class or None when config.json names none, model_config, state_dict, metadata)`` of a folder."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed}: missing; a Muskie directory holds {WEIGHTS_FILE} and {CONFIG_FILE}")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{config_path}: invalid config: {err}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: invalid config: expected a JSON object, got {type(config).__name__}")
    model_class = config.pop(MODEL_CLASS_KEY, None)
    if model_class is not None and not isinstance(model_class, str):
        raise ValueError(f"{config_path}: invalid config: {MODEL_CLASS_KEY} must be a string, got {model_class!r}")
    return model_class, config, read_safetensors(weights_path), read_metadata(weights_path)


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file, on the CPU."""
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own error types for truncated or foreign files
        raise ValueError(f"{path}: cannot read safetensors weights ({err})") from None


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` a folder's ``.safetensors`` file was saved with (empty if none)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            text = (handle.metadata() or {}).get(METADATA_KEY)
        metadata = json.loads(text) if text else {}
    except Exception as err:  # a header that safetensors or JSON cannot parse
        raise ValueError(f"{path}: cannot read the weights' metadata ({err})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: the weights' metadata is not a JSON object")
    return metadata
