"""Backbones for the evaluations behind one interface (:class:`FeatureBackbone`), built from spec strings."""

from muskie.eval.backbones.base import BlockOutputs, FeatureBackbone, FeatureOutput, cell_centres, pixels_to_grid
from muskie.eval.backbones.registry import backbone_kinds, build_backbone, parse_spec, register_backbone

__all__ = [
    "BlockOutputs",
    "FeatureBackbone",
    "FeatureOutput",
    "backbone_kinds",
    "build_backbone",
    "cell_centres",
    "parse_spec",
    "pixels_to_grid",
    "register_backbone",
]
