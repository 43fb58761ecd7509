"""Multi-view masked image modeling pre-training: masks (``masking``), the confidence-weighted loss
(``objective``), one training step as a callable (``step``), the recipe (``config``, shared with the peer
recipes of ``muskie.peers``), the task the training engine runs (``task``; ``task_for`` picks the task of a
config's ``method``), and the masked-view evaluation (``masked_views``)."""

from muskie.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "muskie.pretraining.config": ("METHODS", "DataConfig", "PeerConfig", "PretrainConfig", "load_pretrain_config"),
        "muskie.pretraining.masking": ("MASK_MODES", "MaskConfig", "sample_patch_masks", "sample_pretraining_masks"),
        "muskie.pretraining.objective": ("confidence_weighted_loss",),
        "muskie.pretraining.step": ("pretraining_loss",),
        "muskie.pretraining.task": ("PretrainTask", "pretrain", "task_for"),
    },
)

__all__ = [
    "MASK_MODES",
    "METHODS",
    "DataConfig",
    "MaskConfig",
    "PeerConfig",
    "PretrainConfig",
    "PretrainTask",
    "confidence_weighted_loss",
    "load_pretrain_config",
    "pretrain",
    "pretraining_loss",
    "sample_patch_masks",
    "sample_pretraining_masks",
    "task_for",
]
