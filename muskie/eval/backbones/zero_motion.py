"""``zero-motion``: a control "backbone" whose features are the cell's own image position.

Its nearest-neighbour readout answers, for every query, the centre of the cell holding the query's pixel
position in the target view: the prediction "nothing moved". On scenes whose views barely differ this
already scores well, so it shows how much of a benchmark's score a backbone earns by matching content.
"""

from __future__ import annotations

import torch

from muskie.eval.backbones.base import FeatureBackbone, FeatureOutput, cell_centres
from muskie.model.backbone import check_image_batch


class ZeroMotion(FeatureBackbone):
    """Features ``(B, V, h, w, 2)``: each cell's centre in pixels, on a grid of ``cell_size`` pixel cells."""

    multi_view = False
    depth = 1

    def __init__(self, cell_size: int = 8):
        super().__init__()
        if cell_size < 1:
            raise ValueError(f"zero-motion cell size must be >= 1 pixel, got {cell_size}")
        self.cell_size = cell_size
        self.name = f"zero motion ({cell_size} px cells)"

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        if height % self.cell_size or width % self.cell_size:
            raise ValueError(f"image size {height}x{width} is not a multiple of the cell size {self.cell_size}")
        return height // self.cell_size, width // self.cell_size

    def forward(self, images: torch.Tensor, block: int = -1, with_attention: bool = False) -> FeatureOutput:
        if with_attention:
            raise ValueError(f"{self.name} has no cross-view attention")
        self.block_index(block)
        b, v, height, width = check_image_batch(images)
        grid_h, grid_w = self.grid_size(height, width)
        centres = cell_centres(grid_h, grid_w, height, width, dtype=images.dtype, device=images.device)
        features = centres.view(1, 1, grid_h, grid_w, 2).expand(b, v, grid_h, grid_w, 2)
        return FeatureOutput(features=features.contiguous())
