"""What the peer models share: their config (a frame-wise encoder and a light decoder) and their base class.

The encoder of every peer is a :class:`muskie.model.MuskieBackbone` with ``cross_view`` off: its
alternating-attention blocks attend within each view in both layers, so the tiny preset's 4 blocks are 8
frame-wise attention layers of width 128, Muskie-tiny's attention depth and width. It runs with token
dropping (``visible``): masked patches never enter it, and its mask token stays unused (and untrained).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from muskie.config_io import check_fields
from muskie.model import MuskieBackbone, MuskieConfig


@dataclass(frozen=True)
class DecoderConfig:
    """A peer's decoder: ``depth`` blocks (what a block is depends on the method, see
    :class:`muskie.pretraining.config.PeerConfig`) of width ``dim`` with ``num_heads`` heads and MLPs
    ``mlp_ratio`` times as wide."""

    dim: int = 128
    depth: int = 1
    num_heads: int = 4
    mlp_ratio: float = 4.0

    def __post_init__(self):
        check_fields(self, "DecoderConfig")  # read from files: integers and finite numbers only
        for name in ("dim", "depth", "num_heads"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"DecoderConfig.{name} must be a positive integer, got {value!r}")
        if self.dim % self.num_heads or self.head_dim % 4:
            raise ValueError(
                f"decoder head width dim/num_heads = {self.dim}/{self.num_heads} must be a whole "
                f"multiple of 4 for 2D RoPE"
            )
        if not self.mlp_ratio > 0:
            raise ValueError(f"DecoderConfig.mlp_ratio must be positive, got {self.mlp_ratio!r}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def mlp_hidden_dim(self) -> int:
        return int(self.dim * self.mlp_ratio)


@dataclass(frozen=True)
class PeerModelConfig:
    """A peer model: its frame-wise ``encoder`` (``cross_view`` must be off) and its ``decoder``."""

    encoder: MuskieConfig
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self):
        if self.encoder.cross_view:
            raise ValueError("a peer model's encoder is frame-wise: its MuskieConfig needs cross_view = False")

    def to_dict(self) -> dict:
        """``{"encoder": <MuskieConfig dict>, "decoder": <DecoderConfig dict>}``: what weights files store."""
        return {"encoder": self.encoder.to_dict(), "decoder": dataclasses.asdict(self.decoder)}

    @classmethod
    def from_dict(cls, values: dict) -> PeerModelConfig:
        """Inverse of :meth:`to_dict`; a ValueError for a malformed dict or a bad value."""
        if not isinstance(values, dict) or set(values) != {"encoder", "decoder"}:
            shown = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"a peer model config is {{'encoder': {{...}}, 'decoder': {{...}}}}, got {shown}")
        decoder = values["decoder"]
        names = {f.name for f in dataclasses.fields(DecoderConfig)}
        if not isinstance(decoder, dict) or set(decoder) - names:
            raise ValueError(f"decoder config: expected keys among {sorted(names)}, got {decoder!r}")
        return cls(MuskieConfig.from_dict(values["encoder"]), DecoderConfig(**decoder))


@dataclass
class PeerOutput:
    """What a peer model returns: ``pred (B, V, L, 3*p*p)``, the predicted values of every patch of the views
    it reconstructs (per-patch normalised units when trained so), ordered as
    :func:`muskie.model.patches.patchify` orders them; ``features (B, V, N, E)``, the encoder's last-block
    tokens at the visible patches."""

    pred: torch.Tensor
    features: torch.Tensor


class PeerModel(nn.Module):
    """Base of the peer models: ``encoder`` (a frame-wise :class:`MuskieBackbone`, what evaluations read and
    what the training tasks export) and a decoder the subclass adds. Built from a config alone, so
    ``muskie.load_model`` rebuilds it from a checkpoint (``config_dict`` / ``from_config_dict``)."""

    def __init__(self, config: PeerModelConfig):
        super().__init__()
        self.config = config
        self.encoder = MuskieBackbone(config.encoder)
        # masked patches are dropped, never replaced: the mask token gets no gradient (DDP must not wait for one)
        self.encoder.mask_placeholder.requires_grad_(False)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config_dict(cls, values: dict):
        """A freshly initialised model of the config :meth:`config_dict` returned; ValueError for a bad one."""
        return cls(PeerModelConfig.from_dict(values))
