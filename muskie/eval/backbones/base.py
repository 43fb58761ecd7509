"""The interface every backbone of the evaluations implements, and the pixel <-> feature-cell mapping.

A backbone maps images ``(B, V, 3, H, W)`` in [-1, 1] (``muskie.constants``) to a grid of features that tiles
the whole image uniformly: feature cell ``(i, j)`` of an ``(h, w)`` grid covers the pixel rectangle
``[j * W/w, (j+1) * W/w) x [i * H/h, (i+1) * H/h)`` (pixel-edge coordinates) and its centre is the pixel
coordinate ``u = (j + 0.5) * W/w - 0.5``, ``v = (i + 0.5) * H/h - 0.5`` (pixel centres at integers, as everywhere
in muskie). This holds exactly both for a ViT run at the image's own size (``W/w`` = the patch size) and for
one that resizes its input first (``align_corners=False`` resizing maps the image edges onto each other), so
the readouts never need to know how a backbone reached its grid.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from muskie.model.backbone import SourceAttention


@dataclass
class FeatureOutput:
    """What a :class:`FeatureBackbone` returns.

    Attributes:
        features: ``(B, V, h, w, C)`` float feature grid per view (see the module docstring for its pixel
            mapping).
        attention: ``(B, V, h*w, V, h*w)`` cross-view attention probabilities between feature cells (query
            view, query cell, key view, key cell; cells row-major), or None when not asked for or when the
            backbone has no cross-view attention.
    """

    features: torch.Tensor
    attention: torch.Tensor | None = None


@dataclass
class BlockOutputs:
    """What :meth:`FeatureBackbone.read_blocks` returns, keyed by non-negative block index.

    Attributes:
        features: block -> ``(B, V, h, w, C)`` feature grid (as :attr:`FeatureOutput.features`).
        attention: block -> ``(B, V, h*w, V, h*w)`` cross-view attention (as :attr:`FeatureOutput.attention`),
            when no source view was given.
        source_attention: block -> the part of that attention which involves the source view
            (:class:`~muskie.model.backbone.SourceAttention`, ``(B, h*w, V, h*w)`` each way), when one was.
    """

    features: dict[int, torch.Tensor]
    attention: dict[int, torch.Tensor]
    source_attention: dict[int, SourceAttention] = field(default_factory=dict)


class FeatureBackbone(nn.Module, ABC):
    """A frozen feature extractor for the evaluations. Subclass it to add a backbone.

    Subclasses set ``name`` (shown in tables), ``multi_view`` (True when ``forward`` can return cross-view
    attention) and ``depth`` (number of blocks one can read), and implement :meth:`forward`. Register a
    spec prefix with :func:`muskie.eval.backbones.register_backbone` to build it from the command line.
    """

    name: str = "backbone"
    multi_view: bool = False
    depth: int = 1

    @abstractmethod
    def forward(self, images: torch.Tensor, block: int = -1, with_attention: bool = False) -> FeatureOutput:
        """Features of ``images (B, V, 3, H, W)`` in [-1, 1] after block ``block`` (negative counts from the
        end); cross-view attention of that block as well when ``with_attention`` (multi-view backbones
        only, else ValueError)."""

    def read_blocks(
        self,
        images: torch.Tensor,
        feature_blocks: Sequence[int] = (),
        attention_blocks: Sequence[int] = (),
        source_view: int | None = None,
    ) -> BlockOutputs:
        """Features of every block in ``feature_blocks`` and cross-view attention of every block in
        ``attention_blocks`` (negative indices count from the end) for ``images (B, V, 3, H, W)`` in [-1, 1]:
        the full maps (``attention``), or with ``source_view`` (a view index) only their part that involves
        that view (``source_attention``), what the attention readouts need. This default calls
        :meth:`forward` once per block and cuts the source view's part out of the full map; backbones that
        see every block in one pass, or that can compute the source view's part alone, override it."""
        if source_view is not None and not 0 <= source_view < images.shape[1]:
            raise ValueError(f"{self.name}: source view {source_view} out of range for {images.shape[1]} views")
        wanted_features = {self.block_index(i) for i in feature_blocks}
        wanted_attention = {self.block_index(i) for i in attention_blocks}
        features, attention, source_attention = {}, {}, {}
        for block in sorted(wanted_features | wanted_attention):
            out = self(images, block=block, with_attention=block in wanted_attention)
            if block in wanted_features:
                features[block] = out.features
            if block in wanted_attention and source_view is None:
                attention[block] = out.attention
            elif block in wanted_attention:
                source_attention[block] = SourceAttention.of(out.attention, source_view)
        return BlockOutputs(features=features, attention=attention, source_attention=source_attention)

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` of the feature grid for ``H x W`` images. The default runs a tiny forward pass;
        backbones override it when the answer is known."""
        with torch.no_grad():
            features = self(torch.zeros(1, 1, 3, height, width)).features
        return tuple(features.shape[2:4])

    def block_index(self, block: int) -> int:
        """``block`` as a non-negative index, with a clear error when out of range."""
        if not -self.depth <= block < self.depth:
            raise ValueError(
                f"{self.name}: block {block} out of range for {self.depth} blocks "
                f"(use 0..{self.depth - 1} or negative indices from the end)"
            )
        return block % self.depth


def cell_centres(grid_h: int, grid_w: int, height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Pixel coordinates ``(h*w, 2)`` as ``(u, v)`` of the centres of an ``(h, w)`` grid tiling an ``H x W``
    image, cells row-major."""
    v = (torch.arange(grid_h, dtype=dtype, device=device) + 0.5) * (height / grid_h) - 0.5
    u = (torch.arange(grid_w, dtype=dtype, device=device) + 0.5) * (width / grid_w) - 0.5
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], dim=-1).reshape(-1, 2)


def pixels_to_grid(uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates ``(..., 2)`` -> ``grid_sample`` coordinates in [-1, 1] (``align_corners=False``):
    sampling a feature grid there interpolates bilinearly between the cell centres of the uniform tiling."""
    scale = torch.tensor([2.0 / width, 2.0 / height], dtype=uv.dtype, device=uv.device)
    return (uv + 0.5) * scale - 1.0
