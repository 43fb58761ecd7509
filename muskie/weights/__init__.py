"""Weights files: one reader for every kind, our writers, and strict loading.

Below the model layer: this package knows tensors, the release's key names and config dicts, never the
model classes (it imports only torch, safetensors, PyYAML, huggingface_hub and ``muskie.constants``).

- :mod:`muskie.weights.reader`: :func:`read_weights`, any file -> :class:`WeightsFile`;
- :mod:`muskie.weights.checkpoint`: training checkpoints (format ``muskie-train`` version 2, version 1
  upgraded on reading), written atomically;
- :mod:`muskie.weights.folder`: our folder format (``config.json`` + ``model.safetensors``);
- :mod:`muskie.weights.card`: the folder's model card (``README.md``), with how the model was trained;
- :mod:`muskie.weights.hub`: a Hugging Face Hub repository id -> its cached folder (the only download);
- :mod:`muskie.weights.release`: the release's ``.pth`` files and the config their shapes imply;
- :mod:`muskie.weights.strict`: checks of a config and of a model against a file's tensors, before
  anything is allocated, with the offending keys named.

Build a model from a file with ``muskie.load_model`` (any class) or ``Muskie.from_pretrained``.
"""

from muskie.weights.card import CARD_FILE, TrainingRecord, model_card
from muskie.weights.checkpoint import (
    LATEST_NAME,
    Checkpoint,
    CheckpointError,
    atomic_torch_save,
    read_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from muskie.weights.folder import CONFIG_FILE, WEIGHTS_FILE, save_folder
from muskie.weights.reader import FILE_KINDS, WeightsFile, read_weights
from muskie.weights.release import HEAD_PREFIXES, infer_config
from muskie.weights.strict import build_and_load, check_config_fits, check_fits, describe, load_into

__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "FILE_KINDS",
    "HEAD_PREFIXES",
    "LATEST_NAME",
    "WEIGHTS_FILE",
    "Checkpoint",
    "CheckpointError",
    "TrainingRecord",
    "WeightsFile",
    "atomic_torch_save",
    "build_and_load",
    "check_config_fits",
    "check_fits",
    "describe",
    "infer_config",
    "load_into",
    "model_card",
    "read_checkpoint",
    "read_weights",
    "remove_stale_temporaries",
    "save_checkpoint",
    "save_folder",
]
