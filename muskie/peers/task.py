"""The peer recipes as tasks of the training engine (``muskie.train.engine``), chosen by
``PretrainConfig.method`` (``muskie.pretraining.task_for``).

Each is a :class:`muskie.pretraining.task.PretrainTask` with its own model and loss: the scenes, the batch
stream (``reuse``, ``accum_steps``, resolution groups), the validation samples and every seed are the Muskie
task's, so recipes compared with each other train on the same batches in the same order. A step's random
choices (masks, and CroCo's pairs) come from the generator seeded by ``(seed, step, micro-batch, group,
rank)``, so a resumed run repeats an uninterrupted one. The finished run exports the encoder alone, as a
:class:`muskie.model.MuskieBackbone` folder (what evaluations read); checkpoints hold the whole model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from muskie.data.batch import ViewBatch
from muskie.model import MuskieBackbone
from muskie.model.backbone import encoder_weights
from muskie.model.config import preset_config
from muskie.model.flops import TRAINING_STEP_FACTOR
from muskie.model.patches import patch_targets
from muskie.peers.croco import CroCoModel
from muskie.peers.encoder import DecoderConfig, PeerModel, PeerModelConfig
from muskie.peers.flops import croco_forward_flops, mae_forward_flops, mum_forward_flops
from muskie.peers.mae import MAEModel
from muskie.peers.masking import num_visible_patches, sample_drop_masks, visible_indices
from muskie.peers.mum import MuMModel
from muskie.peers.objective import masked_patch_loss
from muskie.pretraining.step import shuffle_views
from muskie.pretraining.task import PretrainTask
from muskie.train.distributed import unwrap_model
from muskie.train.engine import ModelRecord, StepContext, TaskLoss
from muskie.weights import HEAD_PREFIXES, TrainingRecord, load_into, read_weights


class PeerTask(PretrainTask):
    """What the peer tasks share: the model built from ``model`` / ``model_overrides`` (encoder, made
    frame-wise) and ``peer`` (decoder), loading, and the export of the encoder."""

    model_class: type[PeerModel]

    @property
    def mask_ratio(self) -> float:
        return self.config.peer.ratio(self.method)

    def model_config(self) -> PeerModelConfig:
        """The peer model's config: the frame-wise twin of the ``model`` preset and the ``peer`` decoder."""
        peer = self.config.peer
        encoder = preset_config(self.config.model, **self.config.model_overrides).replace(cross_view=False)
        return PeerModelConfig(
            encoder, DecoderConfig(dim=peer.decoder_dim, depth=peer.decoder_depth, num_heads=peer.decoder_heads)
        )

    def build_model(self) -> PeerModel:
        return self.model_class(self.model_config())

    def model_from_checkpoint(self, checkpoint) -> PeerModel:
        return self.model_class.from_config_dict(checkpoint.model_config)

    def describe_model(self, model: PeerModel) -> ModelRecord:
        return ModelRecord(self.model_class.__name__, model.config_dict(), {"method": self.method})

    def init_from(self, model: PeerModel, path: str) -> None:
        """A model of this method loads whole; a Muskie's, a bare backbone's or another peer model's weights
        load into the encoder (a pixel head or decoder dropped)."""
        weights = read_weights(path, allow_pickle=self.config.allow_pickle)
        if weights.model_class == self.model_class.__name__:
            load_into(model, weights.state_dict, source=str(path))
            return
        weights = encoder_weights(weights)
        if weights.model_class in ("Muskie", "MuskieBackbone"):
            encoder = {k: t for k, t in weights.state_dict.items() if not k.startswith(HEAD_PREFIXES)}
            load_into(model.encoder, encoder, source=str(path))
        else:
            raise ValueError(
                f"{path}: holds a {weights.model_class}; method {self.method} starts from a "
                f"{self.model_class.__name__}, a Muskie, a MuskieBackbone or another peer model"
            )

    def evaluated_backbone(self, model: PeerModel) -> MuskieBackbone:
        """The frame-wise encoder: the features a peer recipe is evaluated on."""
        return model.encoder

    def export(self, model: PeerModel, directory: Path, training: TrainingRecord) -> None:
        """The encoder as a ``MuskieBackbone`` folder: ``muskie:DIRECTORY`` as an evaluation backbone."""
        model.encoder.save_pretrained(directory, model_card_kwargs={"training": training})

    def _masks(
        self, batch: int, num_views: int, grid_h: int, grid_w: int, generator: torch.Generator, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mask (B, V, L) bool, visible (B, V, N) int64)`` of one step: uniform random masks at the
        method's ratio, and the indices of the patches the encoder keeps."""
        kept = num_visible_patches(self.mask_ratio, grid_h * grid_w)
        mask = sample_drop_masks(batch, num_views, grid_h, grid_w, self.mask_ratio, generator).to(device)
        return mask, visible_indices(mask, kept)


class _AutoencoderTask(PeerTask):
    """MAE and MuM: every view masked and reconstructed; ``forward_flops`` counts the model's forward pass."""

    forward_flops: Callable[[PeerModelConfig, int, int, int, int], int]

    def loss(self, model: nn.Module, part: tuple[int, int, ViewBatch], context: StepContext) -> TaskLoss:
        micro, group, batch = part
        images = batch.images.to(context.device, non_blocking=True)
        b, v, _, h, w = images.shape
        config = unwrap_model(model).config
        p = config.encoder.patch_size
        mask, visible = self._masks(b, v, h // p, w // p, context.generator(micro, group), images.device)
        with context.autocast:
            output = model(images, visible)
        loss = masked_patch_loss(output.pred, patch_targets(images, p, self.config.peer.norm_pix_loss), mask)
        flops = b * self.forward_flops(config, v, h, w, visible.shape[-1]) * TRAINING_STEP_FACTOR
        return TaskLoss(loss=loss, views=b * v, flops=flops)


class MAETask(_AutoencoderTask):
    """MAE: each view reconstructs its own masked patches (:class:`~muskie.peers.mae.MAEModel`)."""

    method = "mae"
    model_class = MAEModel
    forward_flops = staticmethod(mae_forward_flops)


class MuMTask(_AutoencoderTask):
    """MuM-style: every view masked, the decoder reads all views (:class:`~muskie.peers.mum.MuMModel`)."""

    method = "mum"
    model_class = MuMModel
    forward_flops = staticmethod(mum_forward_flops)


class CroCoTask(PeerTask):
    """CroCo v2-style cross-view completion (:class:`~muskie.peers.croco.CroCoModel`).

    Each use of a batch shuffles the views of every scene (``muskie.pretraining.step.shuffle_views``) and
    pairs them up, ``(0, 1), (2, 3) ...``: the first view of a pair is masked, the second is its reference.
    With an odd number of views the last one sits the step out.
    """

    method = "croco"
    model_class = CroCoModel

    def loss(self, model: nn.Module, part: tuple[int, int, ViewBatch], context: StepContext) -> TaskLoss:
        micro, group, batch = part
        generator = context.generator(micro, group)
        images = shuffle_views(batch.images.to(context.device, non_blocking=True), generator)
        b, v, _, h, w = images.shape
        pairs = v // 2
        masked, references = images[:, 0 : 2 * pairs : 2], images[:, 1 : 2 * pairs : 2]
        config = unwrap_model(model).config
        p = config.encoder.patch_size
        mask, visible = self._masks(b, pairs, h // p, w // p, generator, images.device)
        with context.autocast:
            output = model(masked, visible, references)
        loss = masked_patch_loss(output.pred, patch_targets(masked, p, self.config.peer.norm_pix_loss), mask)
        flops = b * croco_forward_flops(config, pairs, h, w, visible.shape[-1]) * TRAINING_STEP_FACTOR
        return TaskLoss(loss=loss, views=b * 2 * pairs, flops=flops)


# method name -> its task class
PEER_TASKS: dict[str, type[PeerTask]] = {task.method: task for task in (MAETask, MuMTask, CroCoTask)}
