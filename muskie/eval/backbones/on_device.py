"""A backbone computed on another device (a GPU) or at another precision (bf16) for evaluations that score on
the CPU in float32: its inputs go to the device, it runs there (under bf16 autocast where asked), and its
outputs come back as float32 CPU tensors, so an evaluation's scoring code sees the same kind of tensors on
every device and at every precision."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from muskie.devices import precision_context
from muskie.eval.backbones.base import BlockOutputs, FeatureBackbone, FeatureOutput


class OnDevice(FeatureBackbone):
    """``backbone`` moved to ``device`` (in eval mode) and run at ``precision`` (``fp32``, or ``bf16``:
    autocast, weights kept in float32), taking CPU tensors and returning CPU tensors, float32 where the model
    computed in bf16: features ``(B, V, h, w, C)`` and attention ``(B, V, h*w, V, h*w)`` as
    :class:`FeatureOutput` describes them."""

    def __init__(self, backbone: FeatureBackbone, device: torch.device, precision: str = "fp32"):
        super().__init__()
        self.inner = backbone.to(device).eval()
        self.device = device
        self.precision = precision
        self.name, self.multi_view, self.depth = backbone.name, backbone.multi_view, backbone.depth
        precision_context(precision, device)  # an unknown precision fails here, not at the first sample

    def forward(self, images: torch.Tensor, block: int = -1, with_attention: bool = False) -> FeatureOutput:
        with precision_context(self.precision, self.device):
            out = self.inner(images.to(self.device), block=block, with_attention=with_attention)
        return FeatureOutput(_back(out.features), None if out.attention is None else _back(out.attention))

    def read_blocks(
        self,
        images: torch.Tensor,
        feature_blocks: Sequence[int] = (),
        attention_blocks: Sequence[int] = (),
        source_view: int | None = None,
    ) -> BlockOutputs:
        with precision_context(self.precision, self.device):
            out = self.inner.read_blocks(images.to(self.device), feature_blocks, attention_blocks, source_view)
        return BlockOutputs(
            features={b: _back(t) for b, t in out.features.items()},
            attention={b: _back(t) for b, t in out.attention.items()},
            source_attention={b: a.to("cpu") for b, a in out.source_attention.items()},
        )


def _back(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` on the CPU, in float32 where it was in lower precision (float64 stays float64)."""
    return tensor.to("cpu", torch.float32 if tensor.dtype in (torch.bfloat16, torch.float16) else tensor.dtype)


def on_device(backbone: FeatureBackbone, device: torch.device, precision: str = "fp32") -> FeatureBackbone:
    """``backbone`` computed on ``device`` at ``precision`` (``fp32`` or ``bf16``): itself for the CPU in
    fp32, else wrapped in :class:`OnDevice`."""
    if device.type == "cpu" and precision == "fp32":
        return backbone
    return OnDevice(backbone, device, precision)
