"""Configuration of the reconstruction model, its loss and its fine-tuning runs: plain dataclasses.

Named recipes live as ``muskie/configs/recon-*.yaml``; a run writes its resolved config as ``config.yaml``
beside its checkpoints. The defaults fine-tune the tiny backbone on synthetic scenes on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from muskie.config_io import ConfigError

# DatasetSourceConfig: the type of the inherited ``sources`` field, named here so that the generated __init__'s
# annotations resolve in this module (the API reference)
from muskie.data.datasets import DatasetSourceConfig, SceneSourceConfig  # noqa: F401
from muskie.recon.encoders import parse_encoder
from muskie.train.config import RECON_RECIPE_PREFIX, OptimConfig, RunConfig, load_recipe
from muskie.train.epochs import steps_for_epochs

RECIPE_PREFIX = RECON_RECIPE_PREFIX


@dataclass
class ReconModelConfig:
    """The reconstruction model (see ``muskie.recon.model``).

    Attributes:
        backbone: preset of a randomly initialised backbone (``tiny``, ``small``, ``base``, ...); ignored
            when ``backbone_weights`` or ``encoder`` is given.
        backbone_overrides: ``MuskieConfig`` fields changed in that preset (e.g. ``{depth: 2}``).
        backbone_weights: a Muskie weights file or folder (anything ``MuskieBackbone.from_pretrained``
            reads: a pre-training checkpoint, a ``save_pretrained`` folder, a released ``.pth``); its config
            replaces the preset. The backbone always runs with cross-view attention, whatever it was
            pre-trained with, so every start has the same architecture.
        encoder: a published frame-wise ViT in place of the Muskie backbone, ``FAMILY:PATH`` with FAMILY
            ``dinov2``, ``dinov3``, ``mae`` or ``croco`` and PATH the file its authors publish
            (``muskie.recon.encoders``); not with ``backbone_weights``.
        allow_pickle: let ``backbone_weights`` be a released checkpoint that pickles Python objects.
        freeze_backbone: keep the backbone's (or encoder's) weights fixed (no gradients, not in the
            optimiser) instead of fine-tuning them.
        grad_checkpointing: recompute the backbone's (or encoder's) and the new blocks' activations in the
            backward pass instead of storing them (less memory, about a third more compute).
        new_blocks: alternating-attention blocks added after the backbone (the paper: 2).
        head_layers: which blocks' features the DPT head reads, as indices into the backbone's blocks
            followed by the new ones; empty: four evenly spaced, the last included.
        dpt_dim: channel width of the DPT head.
        camera_dim: width of the camera head's residual MLP.
    """

    backbone: str = "tiny"
    backbone_overrides: dict = field(default_factory=dict)
    backbone_weights: str | None = None
    encoder: str | None = None
    allow_pickle: bool = False
    freeze_backbone: bool = False
    grad_checkpointing: bool = False
    new_blocks: int = 2
    head_layers: list[int] = field(default_factory=list)
    dpt_dim: int = 64
    camera_dim: int = 128


@dataclass
class ReconLossConfig:
    """Weights of the loss terms (``muskie.recon.loss``); the points term has weight 1.

    ``camera_weight`` 0.1 is the paper's; ``normal_weight``, ``confidence_weight``, ``huber_delta`` (in units
    of the scene's mean depth) and ``confidence_threshold`` (relative point error below which a pixel is a
    confident one) are ours.
    """

    normal_weight: float = 1.0
    confidence_weight: float = 0.05
    camera_weight: float = 0.1
    huber_delta: float = 0.1
    confidence_threshold: float = 0.05


@dataclass
class ReconDataConfig(SceneSourceConfig):
    """Training scenes (:class:`muskie.data.datasets.SceneSourceConfig`), which must all have depth and
    cameras. Every batch: ``batch_size`` scenes of ``num_views`` views at ``size`` = (H, W).
    ``samples_per_epoch``: the samples an epoch counts (for ``epochs`` and ``warmup_epochs``); None: the
    number of training scenes."""

    workers: int = 0
    num_views: int = 8
    size: tuple[int, int] = (64, 64)
    samples_per_epoch: int | None = None


@dataclass
class ReconTrainConfig(RunConfig):
    """A whole fine-tuning run; the engine's keys (``steps``, ``optim``, ``precision`` ...) are those of
    :class:`muskie.train.config.RunConfig`.

    Attributes:
        epochs: the run's length in epochs of ``data.samples_per_epoch`` samples; when set, it replaces
            ``steps`` when the run starts (:meth:`with_epochs_as_steps`). None: ``steps`` as given.
        warmup_epochs: the warm-up in epochs; when set, it replaces ``optim.warmup_steps`` the same way.
    """

    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(lr=1e-4, weight_decay=0.05, warmup_steps=50, clip_grad=1.0)
    )
    out_dir: str = "runs/recon"
    model: ReconModelConfig = field(default_factory=ReconModelConfig)
    loss: ReconLossConfig = field(default_factory=ReconLossConfig)
    data: ReconDataConfig = field(default_factory=ReconDataConfig)
    epochs: float | None = None
    warmup_epochs: float | None = None

    def validate(self) -> ReconTrainConfig:
        """Check values types alone do not; returns self. Raises ConfigError."""
        super().validate()
        if self.epochs is not None and not self.epochs > 0:
            raise ConfigError(f"epochs must be > 0 (or null: count steps), got {self.epochs}")
        if self.warmup_epochs is not None and not self.warmup_epochs >= 0:
            raise ConfigError(f"warmup_epochs must be >= 0 (or null: optim.warmup_steps), got {self.warmup_epochs}")
        if self.data.samples_per_epoch is not None and self.data.samples_per_epoch < 1:
            raise ConfigError(f"data.samples_per_epoch must be >= 1 (or null), got {self.data.samples_per_epoch}")
        if self.model.new_blocks < 0 or self.model.dpt_dim < 1 or self.model.camera_dim < 1:
            raise ConfigError("model.new_blocks must be >= 0, model.dpt_dim and model.camera_dim >= 1")
        loss = self.loss
        if min(loss.normal_weight, loss.confidence_weight, loss.camera_weight) < 0:
            raise ConfigError(
                f"loss.normal_weight, loss.confidence_weight and loss.camera_weight must be >= 0, "
                f"got {loss.normal_weight}, {loss.confidence_weight}, {loss.camera_weight}"
            )
        if not (loss.huber_delta > 0 and loss.confidence_threshold > 0):
            raise ConfigError(
                f"loss.huber_delta and loss.confidence_threshold must be > 0, got {loss.huber_delta}, "
                f"{loss.confidence_threshold}"
            )
        if self.model.backbone_weights == "":
            raise ConfigError("model.backbone_weights is empty: give a weights file or folder, or null")
        if self.model.encoder is not None:
            if self.model.backbone_weights is not None:
                raise ConfigError(
                    "model.encoder and model.backbone_weights are both set: the encoder replaces the Muskie "
                    "backbone; set one (the other null)"
                )
            try:
                parse_encoder(self.model.encoder)
            except ValueError as err:
                raise ConfigError(f"model.encoder: {err}") from None
        data = self.data
        data.validate(needs_validation=self.val_every > 0)
        if data.num_views < 1 or min(data.size) < 1:
            raise ConfigError("data.num_views and data.size must be positive")
        return self

    @property
    def counts_epochs(self) -> bool:
        """``epochs`` or ``warmup_epochs`` is set: the run's schedule is stated in epochs."""
        return self.epochs is not None or self.warmup_epochs is not None

    def with_epochs_as_steps(self, training_scenes: int | None, processes: int) -> tuple[ReconTrainConfig, str]:
        """This config with ``epochs`` turned into ``steps`` and ``warmup_epochs`` into ``optim.warmup_steps``
        (each the fewest optimiser steps that take that many samples; ``muskie.train.epochs``), and a line
        saying how. An epoch is ``data.samples_per_epoch`` samples, or ``training_scenes`` when that is None;
        a step takes ``data.batch_size x accum_steps x processes`` samples. Without epochs: itself, ``""``."""
        if not self.counts_epochs:
            return self, ""
        per_epoch = self.data.samples_per_epoch or training_scenes
        if per_epoch is None:
            raise ValueError("epochs need data.samples_per_epoch or the number of training scenes")
        per_step = self.data.batch_size * self.accum_steps * processes
        steps = self.steps if self.epochs is None else steps_for_epochs(self.epochs, per_epoch, per_step)
        warmup = self.optim.warmup_steps
        if self.warmup_epochs is not None:
            warmup = steps_for_epochs(self.warmup_epochs, per_epoch, per_step)
        source = "data.samples_per_epoch" if self.data.samples_per_epoch else "the training scenes"
        note = (
            f"an epoch is {per_epoch} samples ({source}), a step {per_step} (batch {self.data.batch_size} x "
            f"accum_steps {self.accum_steps} x {processes} process(es)): "
            + (f"epochs {self.epochs:g} = {steps} steps" if self.epochs is not None else f"{steps} steps")
            + (f", warmup_epochs {self.warmup_epochs:g} = {warmup} steps" if self.warmup_epochs is not None else "")
        )
        resolved = replace(self, steps=steps, optim=replace(self.optim, warmup_steps=warmup))
        return resolved, note


def load_recon_config(recipe: str | None = None, overrides: list[dict] = ()) -> ReconTrainConfig:
    """The defaults, then a named recipe (``tiny-cpu`` for ``recon-tiny-cpu.yaml``) or a YAML file, then each
    override dict; validated. Raises ConfigError or FileNotFoundError."""
    return load_recipe(ReconTrainConfig(), recipe, overrides, prefix=RECIPE_PREFIX)
