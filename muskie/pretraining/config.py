"""Pre-training configuration: plain dataclasses whose defaults are the paper's recipe for Muskie-B.

Named recipes live as YAML files in ``muskie/configs/`` (``tiny-cpu``, ``base``, ``large``); a run writes
its resolved config as ``config.yaml`` beside its checkpoints. The engine's keys (``steps``, ``optim``,
``precision`` ...) are those of :class:`muskie.train.config.RunConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from muskie.config_io import ConfigError
from muskie.data.datasets import SceneSourceConfig
from muskie.model.config import preset_config
from muskie.pretraining.masking import MaskConfig
from muskie.train.config import OptimConfig, RunConfig, load_recipe

# The paper trains every step at these three resolutions; at 512 px each step draws one aspect ratio.
PAPER_RESOLUTIONS = [
    [[224, 224]],
    [[384, 384]],
    [[512, 512], [512, 288], [512, 384], [288, 512], [384, 512]],
]


@dataclass
class DataConfig(SceneSourceConfig):
    """Where scenes come from (:class:`muskie.data.datasets.SceneSourceConfig`) and how views are drawn.

    ``min_views``..``max_views`` views per scene. ``resolutions``: one entry per batch of a step; each entry
    lists the (H, W) sizes a batch may take (one drawn per batch). Every step averages the losses of all
    entries.
    """

    min_views: int = 2
    max_views: int = 8
    resolutions: list[list[list[int]]] = field(default_factory=lambda: [r[:] for r in PAPER_RESOLUTIONS])


@dataclass
class PretrainConfig(RunConfig):
    """A whole pre-training run.

    ``model`` is a preset name and ``model_overrides`` changes its fields. Each loaded batch is used
    ``reuse`` times, each time with a new view order and a new mask, and each use takes its own optimiser
    step (the paper uses every sample twice).
    """

    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 2_500_000
    precision: str = "bf16"
    out_dir: str = "runs/pretrain"
    checkpoint_every: int = 1000
    model: str = "base"
    model_overrides: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    reuse: int = 2

    def validate(self) -> PretrainConfig:
        """Check values that types alone do not; returns self. Raises ConfigError."""
        super().validate()
        if self.reuse < 1:
            raise ConfigError(f"reuse must be >= 1, got {self.reuse}")
        data = self.data
        data.validate(needs_validation=self.val_every > 0)
        if not 1 <= data.min_views <= data.max_views:
            raise ConfigError(f"need 1 <= data.min_views <= data.max_views, got {data.min_views}, {data.max_views}")
        try:
            patch_size = preset_config(self.model, **self.model_overrides).patch_size
        except (TypeError, ValueError) as err:
            raise ConfigError(f"model / model_overrides: {err}") from None
        if not data.resolutions:
            raise ConfigError("data.resolutions must list at least one resolution group")
        for group in data.resolutions:
            if not group:
                raise ConfigError("data.resolutions: a resolution group lists no size")
            for size in group:
                if len(size) != 2 or min(size) < 1:
                    raise ConfigError(f"data.resolutions: {size} is not an (H, W) pair of positive sizes")
                if size[0] % patch_size or size[1] % patch_size:
                    raise ConfigError(f"data.resolutions: {size} is not a multiple of the model's patch size "
                                      f"{patch_size}")
        return self


def load_pretrain_config(recipe: str | None = None, overrides: list[dict] = ()) -> PretrainConfig:
    """The default config, then a named recipe or YAML file, then each override dict, validated."""
    return load_recipe(PretrainConfig(), recipe, overrides)
