"""Multi-view masked image modeling pre-training as a task of the training engine (``muskie.train.engine``).

One optimiser step: for each of ``accum_steps`` micro-batches and each resolution group, the MV-MIM loss of
``muskie.pretraining.step`` (new view order, references and mask mode); the engine averages them. Each loaded
micro-batch serves ``reuse`` consecutive optimiser steps, each with a new view order and a new mask. Every
random choice of a step comes from a generator seeded by ``(seed, step, micro-batch, group, rank)``, and
batches are addressed by index (``muskie.train.streams``), so a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from muskie.config_io import ConfigError
from muskie.data.batch import ViewBatch
from muskie.data.datasets import evaluation_batches
from muskie.data.mixture import MixtureDataset
from muskie.data.views import MultiViewBatchSampler, MultiViewDataset
from muskie.eval.backbones.muskie_backbone import MuskieFeatures
from muskie.eval.diagnostics import SHIFTS, same_cell_shares, shifted_copy_test
from muskie.model import Muskie, MuskieBackbone, MuskieConfig, compile_blocks
from muskie.model.config import preset_config
from muskie.model.flops import TRAINING_STEP_FACTOR, forward_flops
from muskie.pretraining.config import PretrainConfig
from muskie.pretraining.step import pretraining_loss
from muskie.train.distributed import DistInfo, unwrap_model
from muskie.train.engine import ModelRecord, StepContext, Task, TaskLoss, TrainResult, train
from muskie.train.streams import batch_stream
from muskie.weights import HEAD_PREFIXES, TrainingRecord, load_into, read_weights

log = logging.getLogger("muskie.pretrain")

TASK_NAME = "pretrain"


class PretrainTask(Task):
    """Pre-training of a :class:`Muskie` (backbone + pixel head) as ``config`` says. With ``decoder_blocks``
    the Muskie holds that many more blocks, and its encoder is the ``model``'s blocks only
    (:meth:`evaluated_backbone`)."""

    name = TASK_NAME
    # loader workers, and the speed levers: they change the numbers only as the device does, in the last bits
    resume_free_keys = ("data.workers", "predict_masked_only")
    method = "muskie"

    def __init__(self, config: PretrainConfig):
        if config.method != self.method:
            raise ValueError(
                f"{type(self).__name__} trains method {self.method!r}, the config asks for "
                f"{config.method!r}; use muskie.pretraining.task_for(config)"
            )
        self.config = config

    def model_config(self) -> MuskieConfig:
        """The trained Muskie's config: the ``model`` preset with ``model_overrides``, and the pixel decoder's
        ``decoder_blocks`` added to its depth."""
        encoder = preset_config(self.config.model, **self.config.model_overrides)
        return encoder.replace(depth=encoder.depth + self.config.decoder_blocks)

    def build_model(self) -> Muskie:
        return Muskie(self.model_config())

    def model_from_checkpoint(self, checkpoint) -> Muskie:
        return Muskie(MuskieConfig.from_dict(checkpoint.model_config))

    def describe_model(self, model: Muskie) -> ModelRecord:
        return ModelRecord("Muskie", model.config.to_dict())

    def init_from(self, model: Muskie, path: str) -> None:
        """Load Muskie weights (any file ``read_weights`` reads); a file without the pixel head keeps the
        fresh head."""
        weights = read_weights(path, allow_pickle=self.config.allow_pickle)
        fresh_head = {k: t for k, t in model.state_dict().items() if k.startswith(HEAD_PREFIXES)}
        load_into(model, {**fresh_head, **weights.state_dict}, source=str(path))

    def dataset(self) -> Dataset:
        """The training scenes, images only (pre-training reads no camera or depth file). Raises ValueError
        when no scene of a dataset on disk has ``data.max_views`` frames (shorter scenes are allowed: a sample
        asking one for more views than it has is replaced and logged)."""
        data = self.config.data
        dataset = data.open("train", images_only=True)
        parts = dataset.datasets if isinstance(dataset, MixtureDataset) else [dataset]
        names = dataset.names if isinstance(dataset, MixtureDataset) else [data.source]
        for name, part in zip(names, parts, strict=True):
            if isinstance(part, MultiViewDataset):
                longest = max(len(scene) for scene in part.scenes)
                if longest < data.max_views:
                    # every batch of max_views views would be skipped sample by sample until training gives up
                    raise ValueError(
                        f"{name}: its longest scene has {longest} frame(s), fewer than "
                        f"data.max_views = {data.max_views}; lower data.min_views and data.max_views"
                    )
        return dataset

    def batch_sampler(self, num_samples: int, sizes: list[list[int]], group: int) -> MultiViewBatchSampler:
        """Batches of ``data.batch_size`` scenes, ``min_views..max_views`` views and one of ``sizes`` each;
        every resolution group has its own seed, so the groups of one step show different scenes."""
        data = self.config.data
        return MultiViewBatchSampler(
            num_samples,
            batch_size=data.batch_size,
            num_views=(data.min_views, data.max_views),
            sizes=[tuple(size) for size in sizes],
            seed=self.config.seed * 1000 + group,
            shuffle=True,
            drop_last=True,
        )

    def stream(self, start_step: int, dist: DistInfo, device: torch.device) -> Iterator[list]:
        config = self.config
        dataset = self.dataset()
        first_batch = (start_step // config.reuse) * config.accum_steps
        streams = [
            batch_stream(
                dataset,
                self.batch_sampler(len(dataset), sizes, group),
                first_batch,
                dist.rank,
                dist.world_size,
                config.data.workers,
                device.type == "cuda",
            )
            for group, sizes in enumerate(config.data.resolutions)
        ]
        parts = None
        step = start_step
        while True:
            if parts is None or step % config.reuse == 0:
                parts = [
                    (micro, group, next(s)) for micro in range(config.accum_steps) for group, s in enumerate(streams)
                ]
            yield parts
            step += 1

    def loss(self, model: nn.Module, part: tuple[int, int, ViewBatch], context: StepContext) -> TaskLoss:
        micro, group, batch = part
        images = batch.images.to(context.device, non_blocking=True)
        result = pretraining_loss(
            model,
            images,
            self.config.mask,
            context.generator(micro, group),
            context.autocast,
            rope_view_shift=self.config.rope_view_shift,
            predict_masked_only=self.config.predict_masked_only,
            norm_pix_loss=self.config.norm_pix_loss,
            hide_mask_tokens=self.config.hide_mask_tokens,
        )
        b, v, _, h, w = images.shape
        flops = b * forward_flops(unwrap_model(model).config, v, h, w) * TRAINING_STEP_FACTOR
        return TaskLoss(
            loss=result.output.loss,
            metrics={"masked_mse": result.output.masked_mse},
            views=result.num_views,
            flops=flops,
            notes={"modes": result.mask_mode},
        )

    def validation_parts(self) -> list:
        """``val_samples`` held-out samples at the first resolution group, in batches of ``data.batch_size``:
        the synthetic ``val`` split, or ``data.val_source``."""
        data = self.config.data
        if not data.has_validation:
            return []
        dataset = data.open("val", num_scenes=self.config.val_samples, images_only=True)
        size = tuple(data.resolutions[0][0])
        batches = evaluation_batches(
            dataset, self.config.val_samples, data.max_views, size, self.config.seed, data.batch_size
        )
        return [(0, index, batch) for index, batch in enumerate(batches)]

    def evaluated_backbone(self, model: Muskie) -> MuskieBackbone:
        """The part of the model whose features the evaluations read: the whole Muskie, or with
        ``decoder_blocks`` its leading blocks without the decoder's (:meth:`MuskieBackbone.leading_blocks`;
        peer recipes answer their encoder)."""
        if not self.config.decoder_blocks:
            return model
        return model.leading_blocks(model.config.depth - self.config.decoder_blocks)

    def validate(self, model: nn.Module, parts: list, context: StepContext) -> dict[str, float]:
        """The held-out loss, and the two diagnostics of a positional shortcut (``muskie.eval.diagnostics``) on
        the features the evaluations read (:meth:`evaluated_backbone`): ``same_cell_b<k>``, the share of cells
        whose cross-view attention maximum in block ``k`` sits on the same cell of the other view (unmasked
        views; multi-view backbones only), and ``shift_found_<readout>_<s>`` / ``shift_same_attention_<s>``,
        the shifted-copy test on view 0 of the first held-out batch (shifts of 1, 2 and 4 cells along x and y,
        averaged; the attention readout for multi-view backbones only)."""
        metrics = super().validate(model, parts, context)
        backbone = self.evaluated_backbone(unwrap_model(model))
        if backbone.config.cross_view:
            blocks = range(backbone.config.depth)
            shares = []
            for _, _, batch in parts:
                with context.autocast:
                    output = backbone(batch.images.to(context.device), attention_blocks=blocks)
                shares.append(same_cell_shares(output.attention))
            for block in blocks:
                metrics[f"same_cell_b{block}"] = sum(share[block] for share in shares) / len(shares)
        views = parts[0][2].images[:, 0].to(context.device)
        with context.autocast:
            scores = shifted_copy_test(MuskieFeatures(backbone, "validation"), views)
        for readout in {score.readout for score in scores}:
            for shift in SHIFTS:
                # a shift of the whole grid side scores no cell (NaN): left out
                chosen = [s for s in scores if s.readout == readout and s.shift == shift and s.cells]
                if chosen:
                    metrics[f"shift_found_{readout}_{shift}"] = sum(s.found for s in chosen) / len(chosen)
                    if readout == "attention":
                        metrics[f"shift_same_attention_{shift}"] = sum(s.same for s in chosen) / len(chosen)
        return metrics

    def compile_model(self, model: nn.Module) -> None:
        """Compile the model's alternating-attention blocks in place (:func:`muskie.model.compile_blocks`):
        a Muskie's backbone, a peer recipe's encoder (and MuM's decoder blocks)."""
        count = compile_blocks(model)
        log.info("compile: %d alternating-attention blocks compiled with torch.compile", count)

    def export(self, model: Muskie, directory: Path, training: TrainingRecord) -> None:
        """The Muskie with its pixel head; with ``decoder_blocks``, the encoder alone as a ``MuskieBackbone``
        folder (the checkpoints keep the decoder and the head)."""
        self.evaluated_backbone(model).save_pretrained(directory, model_card_kwargs={"training": training})


# method -> its task class, or "module:attribute" imported when first needed (the peer recipes build on
# this package, so it names them instead of importing them)
_METHOD_TASKS: dict[str, type[Task] | str] = {
    "muskie": PretrainTask,
    "mae": "muskie.peers.task:MAETask",
    "mum": "muskie.peers.task:MuMTask",
    "croco": "muskie.peers.task:CroCoTask",
}


def task_for(config: PretrainConfig) -> Task:
    """The task that trains ``config.method``: :class:`PretrainTask` for ``muskie``, a
    ``muskie.peers.task`` task for a peer recipe (``mae``, ``mum``, ``croco``). Raises ConfigError for an
    unknown method."""
    if config.method not in _METHOD_TASKS:
        raise ConfigError(f"method must be one of {list(_METHOD_TASKS)}, got {config.method!r}")
    cls = _METHOD_TASKS[config.method]
    if isinstance(cls, str):
        module, _, attribute = cls.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
    return cls(config)


def pretrain(
    config: PretrainConfig,
    resume: bool = True,
    stop_at_step: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Run (or resume) pre-training with the method ``config.method`` names (:func:`task_for`); see
    :func:`muskie.train.engine.train`."""
    return train(task_for(config), resume=resume, stop_at_step=stop_at_step, max_minutes=max_minutes, progress=progress)
