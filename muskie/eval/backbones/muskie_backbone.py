"""Muskie checkpoints (and their frame-wise twins, and fresh random initialisations) as evaluation backbones."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from muskie.eval.backbones.base import BlockOutputs, FeatureBackbone, FeatureOutput
from muskie.model import MuskieBackbone
from muskie.model.backbone import check_image_batch


class MuskieFeatures(FeatureBackbone):
    """A :class:`muskie.model.Muskie` (or bare :class:`~muskie.model.MuskieBackbone`) read as a feature
    extractor.

    Features are the patch tokens (registers removed) after an alternating-attention block, one cell per
    ``p x p`` patch, so ``H`` and ``W`` must be multiples of the patch size ``p``. Attention is the block's
    global-layer attention (head-averaged probabilities between patch tokens). A model with
    ``config.cross_view = False`` (the frame-wise twin) attends within each view only: it is not
    ``multi_view`` and offers no attention readout.

    Args:
        model: the model (set to eval mode here; no gradients are taken).
        name: shown in tables.
    """

    def __init__(self, model: MuskieBackbone, name: str):
        super().__init__()
        self.model = model.eval()
        self.name = name
        self.multi_view = bool(model.config.cross_view)
        self.depth = model.config.depth
        self.patch_size = model.config.patch_size

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        self._check_size(height, width)
        return height // self.patch_size, width // self.patch_size

    @torch.no_grad()
    def forward(self, images: torch.Tensor, block: int = -1, with_attention: bool = False) -> FeatureOutput:
        """Features ``(B, V, H/p, W/p, E)`` of block ``block``; with ``with_attention`` also that block's
        cross-view attention ``(B, V, L, V, L)``, ``L = H/p * W/p``."""
        b, v, height, width = check_image_batch(images)
        self._check_size(height, width)
        index = self.block_index(block)
        if with_attention and not self.multi_view:
            raise ValueError(f"{self.name}: a frame-wise model has no cross-view attention to read")
        out = self.model(images, attention_blocks=[index] if with_attention else [])
        features = out.features[index].unflatten(2, (height // self.patch_size, width // self.patch_size))
        return FeatureOutput(features=features, attention=out.attention.get(index))

    @torch.no_grad()
    def read_blocks(
        self,
        images: torch.Tensor,
        feature_blocks: Sequence[int] = (),
        attention_blocks: Sequence[int] = (),
        source_view: int | None = None,
    ) -> BlockOutputs:
        """Features and attention of several blocks from one forward pass (see
        :meth:`FeatureBackbone.read_blocks`); with ``source_view`` the model computes that view's part of
        the attention only (``MuskieBackbone.forward(source_view=...)``), never the full maps."""
        b, v, height, width = check_image_batch(images)
        self._check_size(height, width)
        wanted_features = [self.block_index(i) for i in feature_blocks]
        wanted_attention = [self.block_index(i) for i in attention_blocks]
        if wanted_attention and not self.multi_view:
            raise ValueError(f"{self.name}: a frame-wise model has no cross-view attention to read")
        out = self.model(images, attention_blocks=wanted_attention, source_view=source_view)
        grid = (height // self.patch_size, width // self.patch_size)
        return BlockOutputs(
            features={i: out.features[i].unflatten(2, grid) for i in wanted_features},
            attention=out.attention,
            source_attention=out.source_attention,
        )

    def _check_size(self, height: int, width: int) -> None:
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(f"{self.name}: image size {height}x{width} is not a multiple of the patch size {p}")


def load_muskie_backbone(path: str, name: str | None = None, allow_pickle: bool = False) -> MuskieFeatures:
    """Any Muskie weights file or folder (see :meth:`MuskieBackbone.from_pretrained`) as a backbone, pixel
    head dropped. The default name says whether it is a multi-view model or a frame-wise twin."""
    model = MuskieBackbone.from_pretrained(path, allow_pickle=allow_pickle)
    kind = "Muskie" if model.config.cross_view else "frame-wise twin"
    return MuskieFeatures(model, name or f"{kind} ({path})")


def random_muskie_backbone(preset: str = "tiny", seed: int = 0, name: str | None = None) -> MuskieFeatures:
    """A freshly initialised Muskie of a named preset (the random-initialisation baseline), seeded."""
    from muskie.model import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(preset)
    return MuskieFeatures(model, name or f"random init ({preset})")
