"""CroCo v2-style cross-view completion (Weinzaepfel et al., 2022, 2023): views go in pairs, one masked at
90% (its masked patches dropped), the other fully visible; the shared frame-wise encoder encodes both, and
a decoder whose blocks cross-attend from the masked view to the reference view's encoded tokens predicts
the masked view's pixels (per-patch normalised)."""

from __future__ import annotations

import torch

from muskie.model.backbone import check_image_batch
from muskie.peers.decoders import CrossViewDecoder
from muskie.peers.encoder import PeerModel, PeerModelConfig, PeerOutput


class CroCoModel(PeerModel):
    """Frame-wise encoder (shared by both views of a pair) + :class:`CrossViewDecoder`."""

    def __init__(self, config: PeerModelConfig):
        super().__init__(config)
        e = config.encoder
        self.decoder = CrossViewDecoder(e.embed_dim, config.decoder, e.pixel_dim, e.num_registers, e.rope_base)

    def forward(self, images: torch.Tensor, visible: torch.Tensor, references: torch.Tensor) -> PeerOutput:
        """Reconstruct the masked view of each pair.

        Args:
            images: ``(B, P, 3, H, W)`` in [-1, 1], the masked view of each of ``P`` pairs per scene.
            visible: ``(B, P, N)`` int64, the row-major indices (ascending) of the patches each keeps.
            references: ``(B, P, 3, H, W)`` in [-1, 1], the fully visible view of each pair.

        Returns:
            :class:`PeerOutput`: ``pred (B, P, L, 3*p*p)`` of every patch of the masked views, ``features``
            the encoder's tokens at their visible patches.
        """
        _, _, h, w = check_image_batch(images)
        if references.shape != images.shape:
            raise ValueError(
                f"references must have the images' shape {tuple(images.shape)}, got {tuple(references.shape)}"
            )
        p = self.config.encoder.patch_size
        features = self.encoder(images, visible=visible).features[-1]
        reference = self.encoder(references).features[-1]
        pred = self.decoder(features, visible, reference, (h // p, w // p))
        return PeerOutput(pred=pred, features=features)
