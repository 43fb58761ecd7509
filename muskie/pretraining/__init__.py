"""Multi-view masked image modeling pre-training: masks (``masking``), the confidence-weighted loss
(``objective``), one training step as a callable (``step``), the recipe (``config``), the task the training
engine runs (``task``), and the masked-view evaluation (``masked_views``)."""

from muskie.pretraining.config import DataConfig, PretrainConfig, load_pretrain_config
from muskie.pretraining.masking import MASK_MODES, MaskConfig, sample_patch_masks, sample_pretraining_masks
from muskie.pretraining.objective import confidence_weighted_loss
from muskie.pretraining.step import pretraining_loss
from muskie.pretraining.task import PretrainTask, pretrain

__all__ = [
    "MASK_MODES",
    "DataConfig",
    "MaskConfig",
    "PretrainConfig",
    "PretrainTask",
    "confidence_weighted_loss",
    "load_pretrain_config",
    "pretrain",
    "pretraining_loss",
    "sample_patch_masks",
    "sample_pretraining_masks",
]
