"""``HubModel``: muskie's models save, load and push through huggingface_hub's ``PyTorchModelHubMixin``, in
muskie's own folder format.

``save_pretrained`` writes ``config.json`` and ``model.safetensors`` exactly as
:func:`muskie.weights.save_folder` does (the format of every earlier muskie folder, byte for byte), and a
model card ``README.md`` (:mod:`muskie.weights.card`). ``push_to_hub`` is the mixin's: it saves into a
temporary folder that way and uploads it. Loading (each class's ``from_pretrained``) reads any weights file
muskie knows, strictly, and downloads only a Hub repository (``org/name``) that is not a local path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from huggingface_hub import ModelCard, PyTorchModelHubMixin
from torch import nn

from muskie.weights import WeightsFile, read_weights, save_folder
from muskie.weights.card import TrainingRecord, model_card, write_card
from muskie.weights.hub import HubOptions, resolve_pretrained

if TYPE_CHECKING:
    from huggingface_hub.hub_mixin import DataclassInstance

HubModelT = TypeVar("HubModelT", bound="HubModel")


class HubModel(nn.Module, PyTorchModelHubMixin):
    """Base of muskie's models that save, load and push through the Hub: an ``nn.Module`` with
    ``config_dict()`` (its config as plain values, what ``config.json`` holds), ``from_config_dict`` (its
    inverse) and ``metadata`` (facts about the trained model, such as ``{"image_size": [H, W]}``, stored in
    the safetensors header; usually empty).

    The card and its Hub metadata (library, licence, tags) are muskie's own (:mod:`muskie.weights.card`), so
    the mixin's card options are not used.
    """

    metadata: dict

    def config_dict(self) -> dict:
        """The config as plain values: what ``config.json`` holds."""
        raise NotImplementedError(f"{type(self).__name__} does not define config_dict()")

    @classmethod
    def from_config_dict(cls: type[HubModelT], values: dict) -> HubModelT:
        """A freshly initialised model of the config :meth:`config_dict` returned; ValueError for a bad one."""
        raise NotImplementedError(f"{cls.__name__} does not define from_config_dict()")

    # returns the folder it wrote where the mixin returns None (with push_to_hub, both return the commit URL)
    def save_pretrained(  # type: ignore[override]
        self,
        save_directory: str | os.PathLike,
        *,
        config: dict | DataclassInstance | None = None,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict | None = None,
        **push_to_hub_kwargs: Any,
    ) -> Path | str:
        """Write ``save_directory/{config.json, model.safetensors, README.md}``; returns the directory, or with
        ``push_to_hub`` the URL of the commit that uploaded it to ``repo_id`` (default: the folder's name).

        ``model_card_kwargs``: ``{"training": TrainingRecord}`` puts how the model was trained into the card
        (the training engine passes it when it exports a finished run). ``config`` must be None:
        ``config.json`` is always the model's own config. ``push_to_hub_kwargs`` go to
        :meth:`push_to_hub` (``private``, ``token``, ``commit_message``, ...).
        """
        if config is not None:
            raise ValueError("config.json is the model's own config (config_dict()); pass config=None")
        directory = save_folder(
            save_directory,
            state_dict=self.state_dict(),
            model_class=type(self).__name__,
            model_config=self.config_dict(),
            metadata=self.metadata,
        )
        write_card(directory, self._card_text(**(model_card_kwargs or {})))
        if push_to_hub:
            return self.push_to_hub(
                repo_id or directory.name, model_card_kwargs=model_card_kwargs, **push_to_hub_kwargs
            )
        return directory

    def generate_model_card(self, training: TrainingRecord | None = None) -> ModelCard:
        """The model card ``save_pretrained`` writes (:func:`muskie.weights.card.model_card`)."""
        return ModelCard(self._card_text(training))

    def _card_text(self, training: TrainingRecord | None = None) -> str:
        cls = type(self)
        return model_card(cls.__name__, cls.__module__, self.config_dict(), training)

    @staticmethod
    def read_pretrained(name_or_path: str | os.PathLike, options: HubOptions, allow_pickle: bool) -> WeightsFile:
        """The weights at a local path, or of the Hub repository ``org/name`` when no such path exists
        (:func:`muskie.weights.hub.resolve_pretrained`), read once (:func:`muskie.weights.read_weights`)."""
        return read_weights(resolve_pretrained(name_or_path, options), allow_pickle=allow_pickle)
