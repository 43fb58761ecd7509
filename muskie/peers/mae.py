"""MAE (He et al., 2022) on the views of a scene, each on its own: a frame-wise encoder sees only the
visible patches of its view (75% dropped), a light frame-wise decoder puts a mask token at every dropped
patch and predicts its pixels (per-patch normalised). No token ever attends across views."""

from __future__ import annotations

import torch

from muskie.model.backbone import check_image_batch
from muskie.peers.decoders import PixelDecoder
from muskie.peers.encoder import PeerModel, PeerModelConfig, PeerOutput


class MAEModel(PeerModel):
    """Frame-wise encoder with token dropping + :class:`PixelDecoder` of frame-wise blocks."""

    multi_view_decoder = False

    def __init__(self, config: PeerModelConfig):
        super().__init__(config)
        e = config.encoder
        self.decoder = PixelDecoder(
            e.embed_dim, config.decoder, e.pixel_dim, e.num_registers, e.rope_base, cross_view=self.multi_view_decoder
        )

    def forward(self, images: torch.Tensor, visible: torch.Tensor) -> PeerOutput:
        """Reconstruct every patch of ``images (B, V, 3, H, W)`` in [-1, 1] from the patches ``visible
        (B, V, N)`` int64 lists (row-major indices, ascending, the same count for every view)."""
        _, _, h, w = check_image_batch(images)
        p = self.config.encoder.patch_size
        features = self.encoder(images, visible=visible).features[-1]
        return PeerOutput(pred=self.decoder(features, visible, (h // p, w // p)), features=features)
