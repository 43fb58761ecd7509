"""Settings every training task shares: the optimiser and the run (``RunConfig``), and recipe loading.

A task's config (``muskie.pretraining.config.PretrainConfig``, ``muskie.recon.config.ReconTrainConfig``)
is a ``RunConfig`` subclass that adds its model and data keys; every key stays at the top level of its YAML
recipe (``steps``, ``optim.lr``, ``data.batch_size`` ...). Named recipes live in ``muskie/configs/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from muskie.config_io import ConfigError, layered_config

RECIPE_DIR = Path(__file__).resolve().parent.parent / "configs"
PRECISIONS = ("auto", "fp32", "bf16")
# How AdamW updates the parameters (``optim.implementation``): torch's default choice (the for-loop on a CPU,
# foreach on CUDA), one tensor at a time, all tensors of a group at once, or one fused kernel.
OPTIMIZER_IMPLEMENTATIONS = ("default", "for_loop", "foreach", "fused")

T = TypeVar("T", bound="RunConfig")


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then half-cosine decay, per optimiser step.

    ``implementation``: how the update runs (:data:`OPTIMIZER_IMPLEMENTATIONS`): ``default`` (torch's choice:
    the for-loop on a CPU, foreach on CUDA), ``for_loop``, ``foreach`` or ``fused``. The same update up to
    float32 rounding; which is fastest is measured in docs/performance.md, so the default stays torch's.
    """

    lr: float = 2e-4
    min_lr: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05
    warmup_steps: int = 12_500
    clip_grad: float | None = None
    implementation: str = "default"

    def validate(self) -> OptimConfig:
        """Check the values (finite, in range); returns self. Raises ConfigError naming the key."""
        if self.implementation not in OPTIMIZER_IMPLEMENTATIONS:
            raise ConfigError(
                f"optim.implementation must be one of {', '.join(OPTIMIZER_IMPLEMENTATIONS)}, "
                f"got {self.implementation!r}"
            )
        if not (
            math.isfinite(self.lr)
            and self.lr > 0
            and 0 <= self.min_lr <= self.lr
            and math.isfinite(self.weight_decay)
            and self.weight_decay >= 0
        ):
            raise ConfigError(
                f"need optim.lr > 0, 0 <= optim.min_lr <= optim.lr and optim.weight_decay >= 0 "
                f"(finite); got lr {self.lr}, min_lr {self.min_lr}, weight_decay {self.weight_decay}"
            )
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ConfigError(f"optim.betas must lie in [0, 1), got {list(self.betas)}")
        if self.clip_grad is not None and not (math.isfinite(self.clip_grad) and self.clip_grad > 0):
            raise ConfigError(f"optim.clip_grad must be positive or null, got {self.clip_grad}")
        if self.warmup_steps < 0:
            raise ConfigError("optim.warmup_steps must be >= 0")
        return self


@dataclass
class RunConfig:
    """How the engine (``muskie.train.engine``) runs a task.

    Attributes:
        optim: the optimiser and its schedule.
        steps: optimiser steps; the schedule spans them. A finished run started again with a larger
            ``steps`` is extended (the rest of the schedule is re-spanned over the new length).
        accum_steps: micro-batches accumulated into one optimiser step.
        precision: ``auto`` (bf16 where the device computes it natively, else fp32: see
            :func:`muskie.devices.resolve_precision`; a resumed run keeps the precision it started with),
            ``fp32`` or ``bf16`` (autocast; weights and optimiser state stay float32). A run records the
            precision it used, never ``auto``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seeds the initial weights, the data order and every random choice of a step.
        out_dir: the run folder (checkpoints, ``config.yaml``, ``metrics.jsonl``, TensorBoard, ``model/``).
        checkpoint_every: steps between checkpoints (one is also written at the end, on a time budget and on
            SIGTERM / SIGINT).
        log_every: steps between flushes of ``metrics.jsonl`` and TensorBoard (losses are checked for NaN then).
        keep_checkpoints: besides ``checkpoint-last.pt``, keep the last this many checkpoints as
            ``checkpoint-<step>.pt`` (0: none).
        val_every: steps between validation losses on held-out scenes (0: no validation); the checkpoint with
            the lowest one is kept as ``checkpoint-best.pt``.
        val_samples: held-out samples of each validation.
        init_from: start a fresh run from these weights (any file ``muskie.load_model`` reads) without their
            optimiser state; ignored on resume.
        allow_pickle: let ``init_from`` be a released checkpoint that pickles Python objects (trusted files only).
        compile: compile the model with ``torch.compile`` before training (the task decides what:
            :meth:`muskie.train.engine.Task.compile_model`; pre-training compiles the alternating-attention
            blocks). Off until measured (docs/performance.md); the same numbers up to rounding.
    """

    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 1000
    accum_steps: int = 1
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    out_dir: str = "runs/run"
    checkpoint_every: int = 100
    log_every: int = 10
    keep_checkpoints: int = 0
    val_every: int = 0
    val_samples: int = 8
    init_from: str | None = None
    allow_pickle: bool = False
    compile: bool = False

    def validate(self: T) -> T:
        """Check values that types alone do not; returns self. Raises ConfigError naming the key."""
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        for name in ("steps", "accum_steps", "checkpoint_every", "log_every", "val_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("keep_checkpoints", "val_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.out_dir:
            raise ConfigError("out_dir is empty")
        if self.init_from == "":
            raise ConfigError("init_from is empty: give a weights file or folder, or null")
        self.optim.validate()
        return self


# Prefixes of the recipe files of tasks other than pre-training.
RECON_RECIPE_PREFIX = "recon-"
TASK_RECIPE_PREFIXES = (RECON_RECIPE_PREFIX,)


def recipe_names(prefix: str = "") -> list[str]:
    """Named recipes: ``muskie/configs/<prefix><name>.yaml``; without a prefix, the pre-training recipes
    (the files without another task's prefix)."""
    if prefix:
        return sorted(p.stem[len(prefix) :] for p in RECIPE_DIR.glob(f"{prefix}*.yaml"))
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml") if not p.stem.startswith(TASK_RECIPE_PREFIXES))


def load_recipe(default: T, recipe: str | None, overrides: list[dict] = (), prefix: str = "") -> T:
    """``default``, then a named recipe (``muskie/configs/<prefix><recipe>.yaml``) or a YAML file, then each
    override dict on top; validated. Raises ConfigError (unknown recipe, key or value) or FileNotFoundError."""
    path = None
    if recipe is not None:
        path = Path(recipe)
        if not path.suffix:
            if recipe not in recipe_names(prefix):
                raise ConfigError(
                    f"unknown {'recipe' if not prefix else prefix.rstrip('-') + ' recipe'} "
                    f"{recipe!r}; named recipes: {recipe_names(prefix)}"
                )
            path = RECIPE_DIR / f"{prefix}{recipe}.yaml"
    return layered_config(default, path, overrides).validate()
