"""A published frame-wise ViT (DINOv2, DINOv3, MAE, CroCo v2) as the reconstruction model's encoder, in place
of the Muskie backbone: the paper compares encoders for reconstruction this way (brief section 5, Table 1).

``model.encoder: FAMILY:PATH`` names the file its authors publish (``muskie.model.published``: read without
unpickling, checked before allocation, no download). The encoder runs each view on its own at the input
size, with the ViT's own patch size: a 14-pixel ViT at 224x224 has a 16x16 patch grid, a 16-pixel one 14x14;
the new blocks and heads of :class:`~muskie.recon.model.ReconModel` work on that grid, at the encoder's width
(no projection: the published ViTs' 64-channel heads suit the new blocks' RoPE). The ViT's architecture is
saved with the model (:meth:`ViTEncoder.config_dict`), so a saved reconstruction model loads without the
original file; its name is kept as ``source``, for the record only.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from muskie.constants import IMAGENET_MEAN, IMAGENET_STD, denormalize_image
from muskie.model.backbone import check_image_batch
from muskie.model.published import FAMILIES, read_published_vit
from muskie.model.published.plain_vit import PlainViT, PlainViTConfig


def parse_encoder(spec: str) -> tuple[str, str]:
    """``(family, path)`` of ``FAMILY:PATH``; ValueError naming the families for anything else."""
    family, sep, path = spec.partition(":")
    if not sep or family not in FAMILIES or not path:
        raise ValueError(f"an encoder is FAMILY:PATH with FAMILY one of {', '.join(FAMILIES)}, got {spec!r}")
    return family, path


class ViTEncoder(nn.Module):
    """A frame-wise ViT encoding ``(B, V, 3, H, W)`` images in [-1, 1] view by view.

    Each view is brought to [0, 1] pixels and normalised with ImageNet's statistics (what the published ViTs
    expect); a block's features are its patch tokens through the ViT's final LayerNorm
    (:meth:`~muskie.model.published.plain_vit.PlainViT.layers_out`). No cross-view attention.

    Args:
        vit: the ViT; family: its family (a key of ``muskie.model.published.FAMILIES``); source: the name of
            the file it came from (recorded, never read again).
    """

    def __init__(self, vit: PlainViT, family: str, source: str):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"unknown ViT family {family!r}; choose one of {', '.join(FAMILIES)}")
        self.vit = vit
        self.family = family
        self.source = source
        # float64, cast to the images' dtype in forward: exact for a float64 model too
        self.register_buffer(
            "mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1), persistent=False)

    @property
    def patch_size(self) -> int:
        return self.vit.config.patch_size

    @property
    def embed_dim(self) -> int:
        return self.vit.config.dim

    @property
    def num_heads(self) -> int:
        return self.vit.config.num_heads

    @property
    def depth(self) -> int:
        return self.vit.config.depth

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        """Recompute the ViT's block activations in the backward pass instead of storing them."""
        self.vit.grad_checkpointing = enabled

    def forward(self, images: torch.Tensor, blocks: list[int]) -> dict[int, torch.Tensor]:
        """``{block: (B, V, L, E)}`` patch tokens (row-major over the ``H/p x W/p`` grid) after each of
        ``blocks`` (indices in ``0 .. depth - 1``) of ``images (B, V, 3, H, W)`` in [-1, 1]."""
        b, v, height, width = check_image_batch(images)
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(f"image size {height}x{width} is not a multiple of the encoder's patch size {p}")
        x = (denormalize_image(images.flatten(0, 1)) - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        out = self.vit.layers_out(x, blocks)
        return {i: f.flatten(1, 2).unflatten(0, (b, v)) for i, f in out.items()}

    def config_dict(self) -> dict:
        """``{"family", "source", "vit": <PlainViTConfig dict>}``: enough to rebuild it without the file."""
        return {"family": self.family, "source": self.source, "vit": self.vit.config.to_dict()}

    @classmethod
    def from_config_dict(cls, values: dict) -> ViTEncoder:
        """A freshly initialised encoder of the config :meth:`config_dict` returned; ValueError for a bad one."""
        if not isinstance(values, dict) or set(values) != {"family", "source", "vit"}:
            shown = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"an encoder config is {{'family', 'source', 'vit'}}, got {shown}")
        if not isinstance(values["source"], str):
            raise ValueError(f"encoder.source must be a file name, got {values['source']!r}")
        return cls(
            PlainViT(PlainViTConfig.from_dict(values["vit"], where="encoder.vit")), values["family"], values["source"]
        )


def read_encoder(spec: str | os.PathLike) -> ViTEncoder:
    """The encoder ``FAMILY:PATH`` names, read from its authors' file (see :func:`parse_encoder`)."""
    family, path = parse_encoder(str(spec))
    return ViTEncoder(read_published_vit(family, path), family, Path(path).name)
