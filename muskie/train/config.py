"""Pre-training configuration: plain dataclasses whose defaults are the paper's recipe for Muskie-B.

Named recipes live as YAML files in ``muskie/configs/`` (``tiny-cpu``, ``base``, ``large``); a run writes
its resolved config as ``config.yaml`` beside its checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from muskie.config_io import ConfigError, from_dict, layered_config
from muskie.masking import MaskConfig
from muskie.model.config import preset_config

RECIPE_DIR = Path(__file__).resolve().parent.parent / "configs"

# The paper trains every step at these three resolutions; at 512 px each step draws one aspect ratio.
PAPER_RESOLUTIONS = [
    [[224, 224]],
    [[384, 384]],
    [[512, 512], [512, 288], [512, 384], [288, 512], [384, 512]],
]


@dataclass
class DataConfig:
    """Where scenes come from and how views are drawn.

    ``source``: ``"synthetic"`` (procedural scenes rendered on the fly) or a path: one scene folder, a dataset
    root holding scene folders, or a manifest ``.json`` written by ``muskie.data.sources.build_manifest``.
    ``resolutions``: one entry per batch of a step; each entry lists the (H, W) sizes a batch may take
    (one drawn per batch). Every step averages the losses of all entries.
    """

    source: str = "synthetic"
    synthetic_path: str = "rig"
    synthetic_scenes: int = 100_000
    window: int = 32
    min_views: int = 2
    max_views: int = 8
    resolutions: list[list[list[int]]] = field(default_factory=lambda: [r[:] for r in PAPER_RESOLUTIONS])
    batch_size: int = 4
    workers: int = 4
    crop_scale: tuple[float, float] = (0.8, 1.0)


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then half-cosine decay, per optimiser step."""

    lr: float = 2e-4
    min_lr: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05
    warmup_steps: int = 12_500
    clip_grad: float | None = None


@dataclass
class PretrainConfig:
    """A whole pre-training run.

    ``steps`` counts optimiser steps. Each loaded batch is used ``reuse`` times, each time with a new view
    order and a new mask, and each use takes its own optimiser step (the paper uses every sample twice).
    ``accum_steps`` micro-batches are accumulated into one optimiser step.
    """

    model: str = "base"
    model_overrides: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 2_500_000
    reuse: int = 2
    accum_steps: int = 1
    precision: str = "bf16"
    device: str = "auto"
    seed: int = 0
    out_dir: str = "runs/pretrain"
    checkpoint_every: int = 1000
    log_every: int = 10

    def validate(self) -> "PretrainConfig":
        """Check values that types alone do not; returns self. Raises ConfigError."""
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        for name in ("steps", "reuse", "accum_steps", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.data.min_views <= self.data.max_views:
            raise ConfigError(f"need 1 <= data.min_views <= data.max_views, got {self.data.min_views}, "
                              f"{self.data.max_views}")
        if self.data.batch_size < 1 or self.data.workers < 0:
            raise ConfigError("data.batch_size must be >= 1 and data.workers >= 0")
        if self.data.window < 1:
            raise ConfigError(f"data.window must be >= 1, got {self.data.window}")
        low, high = self.data.crop_scale
        if not 0 < low <= high <= 1:
            raise ConfigError(f"data.crop_scale must satisfy 0 < low <= high <= 1, got {list(self.data.crop_scale)}")
        try:
            patch_size = preset_config(self.model, **self.model_overrides).patch_size
        except (TypeError, ValueError) as err:
            raise ConfigError(f"model / model_overrides: {err}") from None
        if not self.data.resolutions:
            raise ConfigError("data.resolutions must list at least one resolution group")
        for group in self.data.resolutions:
            if not group:
                raise ConfigError("data.resolutions: a resolution group lists no size")
            for size in group:
                if len(size) != 2 or min(size) < 1:
                    raise ConfigError(f"data.resolutions: {size} is not an (H, W) pair of positive sizes")
                if size[0] % patch_size or size[1] % patch_size:
                    raise ConfigError(f"data.resolutions: {size} is not a multiple of the model's patch size "
                                      f"{patch_size}")
        optim = self.optim
        if not (optim.lr > 0 and 0 <= optim.min_lr <= optim.lr and optim.weight_decay >= 0):
            raise ConfigError(f"need optim.lr > 0, 0 <= optim.min_lr <= optim.lr and optim.weight_decay >= 0; "
                              f"got lr {optim.lr}, min_lr {optim.min_lr}, weight_decay {optim.weight_decay}")
        if not all(0 <= beta < 1 for beta in optim.betas):
            raise ConfigError(f"optim.betas must lie in [0, 1), got {list(optim.betas)}")
        if optim.clip_grad is not None and not optim.clip_grad > 0:
            raise ConfigError(f"optim.clip_grad must be positive or null, got {optim.clip_grad}")
        if optim.warmup_steps < 0:
            raise ConfigError("optim.warmup_steps must be >= 0")
        return self


def recipe_names() -> list[str]:
    """Named pre-training recipes (``muskie/configs/*.yaml``; ``recon-*`` files are reconstruction recipes)."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml") if not p.stem.startswith("recon-"))


def load_pretrain_config(recipe: str | None = None, overrides: list[dict] = ()) -> PretrainConfig:
    """The default config, then a named recipe or YAML file, then each override dict, validated."""
    path = None
    if recipe is not None:
        path = Path(recipe)
        if not path.suffix:
            if recipe not in recipe_names():
                raise ConfigError(f"unknown recipe {recipe!r}; named recipes: {recipe_names()}")
            path = RECIPE_DIR / f"{recipe}.yaml"
    return layered_config(PretrainConfig(), path, overrides).validate()


def config_from_dict(data: dict) -> PretrainConfig:
    return from_dict(PretrainConfig, data).validate()
