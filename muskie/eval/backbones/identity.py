"""``identity``: a control "backbone" whose readout answers the query's own pixel in every other view.

Where ``zero-motion`` answers the centre of the query's cell, ``identity`` answers the query pixel itself:
the prediction "nothing moved", at full resolution. It is what an attention readout scores when the
attention puts all its weight on the same cell (the soft-argmax flow is then zero and the answer is the
query pixel), so a multi-view backbone that scores what ``identity`` scores copies positions. On scenes
whose views barely move it scores well; the displacement bins of the benchmark show where it stops.
"""

from __future__ import annotations

import math

import torch

from muskie.eval.backbones.base import FeatureBackbone, FeatureOutput
from muskie.model.backbone import check_image_batch


def position_codes(height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """``(H, W, 4)`` unit vectors coding each pixel's position: ``(cos a, sin a, cos b, sin b) / sqrt(2)`` with
    ``a = pi * u / W`` and ``b = pi * v / H``. The angles stay in ``[0, pi)``, so the code closest to a pixel's
    own (by L2 distance or by cosine similarity, which agree for unit vectors) is that pixel's, uniquely."""
    a = math.pi * torch.arange(width, dtype=torch.float64, device=device) / width
    b = math.pi * torch.arange(height, dtype=torch.float64, device=device) / height
    bb, aa = torch.meshgrid(b, a, indexing="ij")
    codes = torch.stack([aa.cos(), aa.sin(), bb.cos(), bb.sin()], dim=-1) / math.sqrt(2.0)
    return codes.to(dtype)


class Identity(FeatureBackbone):
    """Features ``(B, V, H, W, 4)``: one cell per pixel holding :func:`position_codes`, the same in every view.

    Query pixels of the benchmark are pixel centres, so the nearest-neighbour readout (L2 or cosine) returns
    exactly the query's own coordinates in every target view. Frame-wise: no attention readout.
    """

    name = "identity (query pixel)"
    multi_view = False
    depth = 1

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        return height, width

    def forward(self, images: torch.Tensor, block: int = -1, with_attention: bool = False) -> FeatureOutput:
        if with_attention:
            raise ValueError(f"{self.name} has no cross-view attention")
        self.block_index(block)
        b, v, height, width = check_image_batch(images)
        codes = position_codes(height, width, dtype=images.dtype, device=images.device)
        return FeatureOutput(features=codes.expand(b, v, height, width, 4).contiguous())
