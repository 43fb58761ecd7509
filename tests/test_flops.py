"""Analytic FLOPs against PyTorch's FLOP counter on a real forward pass."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from muskie.model import Muskie, MuskieBackbone, MuskieConfig, flops_per_view, forward_flops


@pytest.mark.parametrize("cross_view", [True, False])
@pytest.mark.parametrize("views, h, w", [(1, 8, 8), (3, 16, 24)])
def test_forward_flops_match_the_flop_counter(cross_view, views, h, w):
    config = MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=4, cross_view=cross_view)
    model = Muskie(config)
    images = torch.zeros(2, views, 3, h, w)
    # the math backend decomposes attention into matmuls the counter sees
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(images)
    assert counter.get_total_flops() == 2 * forward_flops(config, views, h, w)


def test_per_view_and_training_step():
    config = MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=4)
    total = forward_flops(config, 4, 16, 16)
    assert flops_per_view(config, 4, 16, 16) == total / 4
    assert flops_per_view(config, 4, 16, 16, training=True) == 3 * total / 4
    assert forward_flops(config, 4, 16, 16, include_head=False) < total
    with pytest.raises(ValueError, match="not a positive multiple of the patch size 4"):
        forward_flops(config, 4, 18, 16)


@pytest.mark.parametrize("cross_view", [True, False])
def test_token_dropping_flops_match_the_flop_counter(cross_view):
    config = MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=4, cross_view=cross_view)
    model = MuskieBackbone(config)
    images = torch.zeros(2, 3, 3, 16, 24)
    visible = torch.arange(7).expand(2, 3, 7)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(images, visible=visible)
    assert counter.get_total_flops() == 2 * forward_flops(config, 3, 16, 24, include_head=False, kept_patches=7)
    with pytest.raises(ValueError, match=r"kept_patches must be in 1\.\.24"):
        forward_flops(config, 3, 16, 24, kept_patches=25)
