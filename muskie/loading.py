"""``load_model``: any muskie weights file -> the model it holds, in one call.

Reads the file once (:func:`muskie.weights.read_weights`: our folders, ``.safetensors``, training
checkpoints of every task and format version, the release's ``.pth``), finds the model class it names in
a registry, builds the model from the config the file carries and loads the weights strictly.

A model class joins the registry with :func:`register_model_class`; it needs ``config_dict()`` (the config
as plain values, what files store) and a classmethod ``from_config_dict(values)`` (a freshly initialised
model of that config, ValueError for a bad one). Classes are imported only when a file needs them, so
``import muskie`` stays light.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from muskie.devices import resolve_device
from muskie.model.hub import HubModel
from muskie.weights import WeightsFile, build_and_load, read_weights


class ModelClass(Protocol):
    """What the registry needs of a model class (its models also have ``config_dict()``)."""

    def from_config_dict(self, values: dict) -> nn.Module:
        """A freshly initialised model of ``values``; ValueError for a bad config."""
        ...


# class name in files -> the class, or "module:attribute" to import it when first needed (the peer recipes'
# models, muskie.peers, hold their encoder as a MuskieBackbone and train with muskie.peers.task)
_MODEL_CLASSES: dict[str, ModelClass | str] = {
    "Muskie": "muskie.model:Muskie",
    "MuskieBackbone": "muskie.model:MuskieBackbone",
    "ReconModel": "muskie.recon.model:ReconModel",
    "MAEModel": "muskie.peers.mae:MAEModel",
    "MuMModel": "muskie.peers.mum:MuMModel",
    "CroCoModel": "muskie.peers.croco:CroCoModel",
}


def register_model_class(name: str, cls: ModelClass | str) -> None:
    """Let weights files naming ``name`` (their ``model_class``) build ``cls``, a class or a
    ``"module:attribute"`` path imported when first needed."""
    if not name or (name in _MODEL_CLASSES and _MODEL_CLASSES[name] is not cls):
        raise ValueError(f"model class name {name!r} is empty or already registered")
    _MODEL_CLASSES[name] = cls


def model_class(name: str) -> ModelClass:
    """The registered class called ``name``; a ValueError lists the known ones."""
    if name not in _MODEL_CLASSES:
        # in registration order: muskie's own models first
        raise ValueError(f"unknown model class {name!r}; known: {', '.join(_MODEL_CLASSES)}")
    cls = _MODEL_CLASSES[name]
    if isinstance(cls, str):
        module, _, attribute = cls.partition(":")
        cls = _MODEL_CLASSES[name] = getattr(importlib.import_module(module), attribute)
    return cls


def build_model(weights: WeightsFile) -> nn.Module:
    """The model of a :class:`~muskie.weights.WeightsFile`, weights loaded strictly, on the CPU, in train
    mode. Checked against the file on the ``meta`` device first, so a file that does not fit costs no memory."""
    try:
        cls = model_class(weights.model_class)
    except ValueError as err:
        raise ValueError(f"{weights.source}: {err}") from None
    model = build_and_load(
        lambda: cls.from_config_dict(weights.model_config),
        weights.state_dict,
        weights.source,
        config_source=weights.config_source,
    )
    if isinstance(model, HubModel):  # muskie's models keep what the file records about them
        model.metadata = dict(weights.metadata)
    return model


def load_model(
    path: str | os.PathLike, *, allow_pickle: bool = False, map_location: str | torch.device = "cpu"
) -> nn.Module:
    """The model stored at ``path``, in eval mode on ``map_location``: a ``Muskie`` (or bare
    ``MuskieBackbone``) for pre-training files and released weights, a ``ReconModel`` for reconstruction
    checkpoints, whatever class the file names.

    ``map_location``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; an unknown or unavailable device is a
    ValueError, raised before anything is read. ``allow_pickle``: let released training checkpoints, which
    pickle their arguments, be unpickled (runs code from the file: only for files you trust).

    Raises FileNotFoundError for a missing path, and a ValueError naming the file when it cannot be read or
    its weights do not fit the model it names (the keys are listed).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or folder")
    device = resolve_device(map_location)
    model = build_model(read_weights(path, allow_pickle=allow_pickle))
    return model.to(device).eval()
