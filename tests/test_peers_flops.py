"""Analytic FLOPs of the peer models: against a hand count, and against PyTorch's FLOP counter."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from muskie.model import MuskieConfig
from muskie.peers import CroCoModel, DecoderConfig, MAEModel, MuMModel, PeerModelConfig
from muskie.peers.flops import croco_forward_flops, mae_forward_flops, mum_forward_flops

# encoder: width 16, 1 AA block (2 frame layers), patch 4, 1 register; decoder: width 8, 1 block
HAND = PeerModelConfig(
    MuskieConfig(embed_dim=16, depth=1, num_heads=2, patch_size=4, num_registers=1, cross_view=False),
    DecoderConfig(dim=8, depth=1, num_heads=2),
)


def test_mae_and_mum_against_a_hand_count():
    # one 8x8 view: L = 4 patches of 48 values, 1 kept; multiply-accumulates x 2
    embed = 2 * 4 * 48 * 16  # patch embedding of all 4 patches
    # an encoder layer over T = 1 register + 1 kept = 2 tokens: qkv + out, q k^T + p v, MLP (hidden 64)
    encoder_layer = 2 * 2 * 16 * 64 + 4 * 2 * 2 * 16 + 4 * 2 * 16 * 64
    assert encoder_layer == 12544
    # decoder: width change of the kept token, two layers over T = 1 + 4 = 5 tokens, pixel prediction
    decoder_layer = 2 * 5 * 8 * 32 + 4 * 5 * 5 * 8 + 4 * 5 * 8 * 32
    decoder = 2 * 1 * 16 * 8 + 2 * decoder_layer + 2 * 4 * 8 * 48
    assert mae_forward_flops(HAND, 1, 8, 8, kept_patches=1) == embed + 2 * encoder_layer + decoder == 51520
    # MuM over 2 views: the decoder's global layer attends to both views' 10 tokens
    assert mum_forward_flops(HAND, 2, 8, 8, kept_patches=1) == 2 * 51520 + 2 * 4 * 5 * (10 - 5) * 8


def test_croco_against_a_hand_count():
    masked = 2 * 4 * 48 * 16 + 2 * 12544  # the masked view: embed 4 patches, 2 layers over 2 tokens
    # the reference view: 2 layers over 1 + 4 = 5 tokens
    reference_layer = 2 * 5 * 16 * 64 + 4 * 5 * 5 * 16 + 4 * 5 * 16 * 64
    reference = 2 * 4 * 48 * 16 + 2 * reference_layer
    # decoder: width change of 1 + 4 tokens; self-attention + MLP over 5 tokens; cross-attention from 5
    # queries to 4 keys (q and out on the queries, k and v on the keys); pixel prediction
    self_and_mlp = 2 * 5 * 8 * 32 + 4 * 5 * 5 * 8 + 4 * 5 * 8 * 32
    cross = 2 * 5 * 8 * 16 + 2 * 4 * 8 * 16 + 4 * 5 * 4 * 8
    decoder = 2 * 5 * 16 * 8 + self_and_mlp + cross + 2 * 4 * 8 * 48
    assert croco_forward_flops(HAND, 1, 8, 8, kept_patches=1) == masked + reference + decoder


CONFIG = PeerModelConfig(
    MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=4, cross_view=False),
    DecoderConfig(dim=16, depth=2, num_heads=2),
)


@pytest.mark.parametrize("cls, count", [(MAEModel, mae_forward_flops), (MuMModel, mum_forward_flops)])
@pytest.mark.parametrize("views, h, w, kept", [(1, 8, 8, 1), (3, 16, 24, 6)])
def test_autoencoder_flops_match_the_flop_counter(cls, count, views, h, w, kept):
    model = cls(CONFIG)
    visible = torch.arange(kept).expand(2, views, kept)
    # the math backend decomposes attention into matmuls the counter sees
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(torch.zeros(2, views, 3, h, w), visible)
    assert counter.get_total_flops() == 2 * count(CONFIG, views, h, w, kept)


@pytest.mark.parametrize("pairs, h, w, kept", [(1, 8, 8, 1), (2, 16, 24, 3)])
def test_croco_flops_match_the_flop_counter(pairs, h, w, kept):
    model = CroCoModel(CONFIG)
    visible = torch.arange(kept).expand(2, pairs, kept)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(torch.zeros(2, pairs, 3, h, w), visible, torch.zeros(2, pairs, 3, h, w))
    assert counter.get_total_flops() == 2 * croco_forward_flops(CONFIG, pairs, h, w, kept)
