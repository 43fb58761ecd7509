"""A backbone computed on another device (a GPU) for evaluations that score on the CPU: its inputs go to the
device, its outputs come back, so an evaluation's scoring code sees the same CPU tensors on every device."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from muskie.eval.backbones.base import BlockOutputs, FeatureBackbone, FeatureOutput


class OnDevice(FeatureBackbone):
    """``backbone`` moved to ``device`` (in eval mode), taking and returning CPU tensors: features
    ``(B, V, h, w, C)`` and attention ``(B, V, h*w, V, h*w)`` as :class:`FeatureOutput` describes them."""

    def __init__(self, backbone: FeatureBackbone, device: torch.device):
        super().__init__()
        self.inner = backbone.to(device).eval()
        self.device = device
        self.name, self.multi_view, self.depth = backbone.name, backbone.multi_view, backbone.depth

    def forward(self, images: torch.Tensor, block: int = -1, with_attention: bool = False) -> FeatureOutput:
        out = self.inner(images.to(self.device), block=block, with_attention=with_attention)
        return FeatureOutput(out.features.cpu(), None if out.attention is None else out.attention.cpu())

    def read_blocks(
        self,
        images: torch.Tensor,
        feature_blocks: Sequence[int] = (),
        attention_blocks: Sequence[int] = (),
        source_view: int | None = None,
    ) -> BlockOutputs:
        out = self.inner.read_blocks(images.to(self.device), feature_blocks, attention_blocks, source_view)
        return BlockOutputs(
            features={b: t.cpu() for b, t in out.features.items()},
            attention={b: t.cpu() for b, t in out.attention.items()},
            source_attention={b: a.to("cpu") for b, a in out.source_attention.items()},
        )


def on_device(backbone: FeatureBackbone, device: torch.device) -> FeatureBackbone:
    """``backbone`` computed on ``device``: itself on the CPU, else wrapped in :class:`OnDevice`."""
    return backbone if device.type == "cpu" else OnDevice(backbone, device)
