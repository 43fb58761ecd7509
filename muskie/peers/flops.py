"""Analytic forward FLOPs of the peer models, counted as ``muskie.model.flops`` counts Muskie's: matrix
products only (2 FLOPs per multiply-accumulate), registers counted as tokens, LayerNorm, softmax, GELU, RoPE
and the gathers of token dropping left out. A training step costs ``TRAINING_STEP_FACTOR`` forward passes.

The encoder embeds every patch but runs its blocks on the kept ones only (plus its registers); the decoders
run on the full patch grid plus their own registers.
"""

from __future__ import annotations

from muskie.model.flops import cross_attention_flops, forward_flops, layer_flops, patch_grid_size
from muskie.peers.encoder import PeerModelConfig


def _decoder_io_flops(config: PeerModelConfig, embedded: int, predicted: int) -> int:
    """The decoder's width change over ``embedded`` encoder tokens and its pixel prediction of ``predicted``
    patches."""
    e, d = config.encoder, config.decoder
    return 2 * embedded * e.embed_dim * d.dim + 2 * predicted * d.dim * e.pixel_dim


def autoencoder_forward_flops(
    config: PeerModelConfig, num_views: int, height: int, width: int, kept_patches: int, multi_view: bool
) -> int:
    """One forward pass of :class:`~muskie.peers.mae.MAEModel` (``multi_view`` False) or
    :class:`~muskie.peers.mum.MuMModel` (True) over one scene of ``num_views`` views of ``height x width``,
    each keeping ``kept_patches`` patches."""
    encoder = forward_flops(config.encoder, num_views, height, width, include_head=False, kept_patches=kept_patches)
    patches = patch_grid_size(config.encoder, height, width)
    tokens = patches + config.encoder.num_registers
    d = config.decoder
    span = tokens * num_views if multi_view else tokens
    per_view = _decoder_io_flops(config, kept_patches, patches)
    per_view += d.depth * (
        layer_flops(tokens, tokens, d.dim, d.mlp_hidden_dim) + layer_flops(tokens, span, d.dim, d.mlp_hidden_dim)
    )
    return encoder + num_views * per_view


def mae_forward_flops(config: PeerModelConfig, num_views: int, height: int, width: int, kept_patches: int) -> int:
    """:func:`autoencoder_forward_flops` of MAE (frame-wise decoder)."""
    return autoencoder_forward_flops(config, num_views, height, width, kept_patches, multi_view=False)


def mum_forward_flops(config: PeerModelConfig, num_views: int, height: int, width: int, kept_patches: int) -> int:
    """:func:`autoencoder_forward_flops` of MuM (multi-view decoder)."""
    return autoencoder_forward_flops(config, num_views, height, width, kept_patches, multi_view=True)


def croco_forward_flops(config: PeerModelConfig, num_pairs: int, height: int, width: int, kept_patches: int) -> int:
    """One forward pass of :class:`~muskie.peers.croco.CroCoModel` over ``num_pairs`` pairs of views: the
    encoder over each masked view (``kept_patches`` kept) and each reference view (all patches); the decoder
    over the masked view's full grid, cross-attending to the reference's patches."""
    e, d = config.encoder, config.decoder
    encoder = forward_flops(e, num_pairs, height, width, include_head=False, kept_patches=kept_patches) + forward_flops(
        e, num_pairs, height, width, include_head=False
    )
    patches = patch_grid_size(e, height, width)
    tokens = patches + e.num_registers
    per_pair = _decoder_io_flops(config, kept_patches + patches, patches)
    # a block: self-attention and the MLP (one transformer layer's worth), then cross-attention
    per_pair += d.depth * (
        layer_flops(tokens, tokens, d.dim, d.mlp_hidden_dim) + cross_attention_flops(tokens, patches, d.dim)
    )
    return encoder + num_pairs * per_pair
