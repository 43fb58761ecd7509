"""The Muskie model: configuration, backbone, pre-training head, weights and compute cost."""

from muskie.model.backbone import BackboneOutput, MuskieBackbone
from muskie.model.config import PRESETS, MuskieConfig, preset_config
from muskie.model.flops import forward_flops, flops_per_view
from muskie.model.muskie import Muskie, MuskieOutput, create_model, parameter_counts
from muskie.model.patches import patchify, unpatchify

__all__ = [
    "PRESETS",
    "BackboneOutput",
    "Muskie",
    "MuskieBackbone",
    "MuskieConfig",
    "MuskieOutput",
    "create_model",
    "flops_per_view",
    "forward_flops",
    "parameter_counts",
    "patchify",
    "preset_config",
    "unpatchify",
]
