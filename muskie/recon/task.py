"""Fine-tuning the reconstruction model as a task of the training engine (``muskie.train.engine``).

Each optimiser step takes ``accum_steps`` batches (``B`` scenes of ``V`` views with depth and cameras), runs
the model and takes the loss of ``muskie.recon.loss``. A schedule stated in epochs (``epochs``,
``warmup_epochs``) becomes steps when the task is made, from the processes of the job and the samples of an
epoch, and is logged. The model is permutation-equivariant over views, so
view order is left as the dataset gives it. A checkpoint rebuilds the model by itself (class
``ReconModel``, its backbone's and heads' config), without the backbone's original weights file, and
records the image size it was trained at (``metadata["image_size"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from muskie.data.batch import ViewBatch
from muskie.data.datasets import evaluation_batches
from muskie.data.views import MultiViewBatchSampler
from muskie.recon.config import ReconTrainConfig
from muskie.recon.loss import recon_loss
from muskie.recon.model import ReconModel, build_recon_model
from muskie.train.distributed import DistInfo, process_count
from muskie.train.engine import ModelRecord, StepContext, Task, TaskLoss, TrainResult, train
from muskie.train.streams import batch_stream
from muskie.weights import HEAD_PREFIXES, TrainingRecord, load_into, read_weights

log = logging.getLogger("muskie.recon")

TASK_NAME = "recon"
REQUIRED = ("depth", "cameras")  # every training scene needs both
LOSS_TERMS = ("points", "normal", "confidence", "camera", "rotation", "translation")


class ReconTask(Task):
    """Fine-tuning of a :class:`ReconModel` as ``config`` says."""

    name = TASK_NAME
    resume_free_keys = ("data.workers",)

    def __init__(self, config: ReconTrainConfig):
        self.config = config
        self._dataset: Dataset | None = None
        if config.counts_epochs:  # the schedule in steps, before the engine reads it
            scenes = None if config.data.samples_per_epoch else len(self.training_dataset())
            self.config, note = config.with_epochs_as_steps(scenes, process_count())
            log.info("schedule: %s", note)

    def training_dataset(self) -> Dataset:
        """The training scenes (opened once: counting an epoch's scenes and the stream share them)."""
        if self._dataset is None:
            self._dataset = self.config.data.open("train", require=REQUIRED)
        return self._dataset

    def build_model(self) -> ReconModel:
        model = build_recon_model(self.config.model)
        height, width = self.config.data.size
        if height % model.patch_size or width % model.patch_size:
            raise ValueError(
                f"data.size {height}x{width} is not a multiple of the model's patch size {model.patch_size}"
                + (f" (model.encoder {self.config.model.encoder})" if self.config.model.encoder else "")
            )
        return model

    def model_from_checkpoint(self, checkpoint) -> ReconModel:
        return ReconModel.from_config_dict(checkpoint.model_config)

    def describe_model(self, model: ReconModel) -> ModelRecord:
        return ModelRecord("ReconModel", model.config_dict(), {"image_size": list(self.config.data.size)})

    def init_from(self, model: ReconModel, path: str) -> None:
        """A reconstruction model's weights load whole; a Muskie's (or a backbone's) load into the backbone."""
        weights = read_weights(path, allow_pickle=self.config.allow_pickle)
        if weights.model_class == "ReconModel":
            load_into(model, weights.state_dict, source=str(path))
        else:
            backbone = {k: t for k, t in weights.state_dict.items() if not k.startswith(HEAD_PREFIXES)}
            load_into(model.backbone, backbone, source=str(path))

    def stream(self, start_step: int, dist: DistInfo, device: torch.device) -> Iterator[list]:
        config, data = self.config, self.config.data
        dataset = self.training_dataset()
        sampler = MultiViewBatchSampler(
            len(dataset),
            batch_size=data.batch_size,
            num_views=data.num_views,
            sizes=[tuple(data.size)],
            seed=config.seed,
            shuffle=True,
            drop_last=len(dataset) >= data.batch_size,
        )
        batches = batch_stream(
            dataset,
            sampler,
            start_step * config.accum_steps,
            dist.rank,
            dist.world_size,
            data.workers,
            device.type == "cuda",
        )
        while True:
            yield [next(batches) for _ in range(config.accum_steps)]

    def loss(self, model: nn.Module, batch: ViewBatch, context: StepContext) -> TaskLoss:
        batch = batch.to(context.device, non_blocking=True)
        with context.autocast:
            output = model(batch.images)
        result = recon_loss(
            output.local_points,
            output.confidence_logits,
            output.cam_to_world,
            batch.depth,
            batch.valid,
            batch.intrinsics,
            batch.cam_to_world,
            self.config.loss,
        )
        return TaskLoss(
            loss=result.loss,
            metrics={name: getattr(result, name).detach() for name in LOSS_TERMS},
            views=batch.num_scenes * batch.num_views,
        )

    def validation_parts(self) -> list:
        """``val_samples`` held-out samples (full frames) in batches of ``data.batch_size``: the synthetic
        ``val`` split, or ``data.val_source``."""
        data = self.config.data
        if not data.has_validation:
            return []
        dataset = data.open("val", require=REQUIRED, num_scenes=self.config.val_samples)
        return list(
            evaluation_batches(
                dataset, self.config.val_samples, data.num_views, tuple(data.size), self.config.seed, data.batch_size
            )
        )

    def export(self, model: ReconModel, directory: Path, training: TrainingRecord) -> None:
        model.metadata = self.describe_model(model).metadata  # the image size it was trained at
        model.save_pretrained(directory, model_card_kwargs={"training": training})


def train_recon(
    config: ReconTrainConfig,
    resume: bool = True,
    stop_at_step: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Run (or resume) fine-tuning as ``config`` says (see :func:`muskie.train.engine.train`).
    ``config.model.backbone_weights`` chooses the start: a pre-trained Muskie (or frame-wise twin), or None
    for a random ``config.model.backbone``."""
    return train(
        ReconTask(config), resume=resume, stop_at_step=stop_at_step, max_minutes=max_minutes, progress=progress
    )
