"""patchify / unpatchify: pixel_unshuffle value order, row-major patches, exact inverse; per-patch normalised
targets against float64."""

import pytest
import torch
import torch.nn.functional as F

from muskie.model.layers.patch_embed import PatchEmbed
from muskie.model.patches import patch_targets, patchify, unpatchify


def test_patchify_follows_pixel_unshuffle_and_row_major_order():
    x = torch.randn(2, 3, 3, 8, 12)
    patches = patchify(x, 4)
    assert patches.shape == (2, 3, 6, 48)
    unshuffled = F.pixel_unshuffle(x.flatten(0, 1), 4)  # (N, C*p*p, H/p, W/p)
    torch.testing.assert_close(patches, unshuffled.flatten(2).transpose(1, 2).view(2, 3, 6, 48), rtol=0, atol=0)
    # patch 4 is grid row 1, column 1; value index c*p*p + i*p + j is channel c, patch row i, column j
    assert patches[1, 2, 4, 1 * 16 + 2 * 4 + 3] == x[1, 2, 1, 4 + 2, 4 + 3]


def test_unpatchify_is_the_exact_inverse():
    x = torch.randn(1, 2, 3, 12, 20)
    torch.testing.assert_close(unpatchify(patchify(x, 4), 4, 12, 20), x, rtol=0, atol=0)
    p = torch.randn(1, 2, 15, 48)
    torch.testing.assert_close(patchify(unpatchify(p, 4, 12, 20), 4), p, rtol=0, atol=0)


def test_tokens_come_in_the_same_patch_order():
    embed = PatchEmbed(4, 8)
    x = torch.randn(1, 1, 3, 8, 12)
    tokens = embed(x[0])
    linear = patchify(x, 4)[0] @ embed.proj.weight.reshape(8, -1).T + embed.proj.bias
    torch.testing.assert_close(tokens, linear, rtol=1e-5, atol=1e-5)


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="not a multiple of the patch size 4"):
        patchify(torch.zeros(1, 1, 3, 8, 10), 4)
    with pytest.raises(ValueError, match=r"\(B, V, C, H, W\)"):
        patchify(torch.zeros(1, 3, 8, 8), 4)
    with pytest.raises(ValueError, match="do not tile a 8x8 image"):
        unpatchify(torch.zeros(1, 1, 5, 48), 4, 8, 8)


def test_per_patch_normalisation_matches_float64():
    images = torch.rand(2, 3, 3, 8, 12, generator=torch.Generator().manual_seed(2)) * 2 - 1
    target = patch_targets(images, 4)
    patches = patchify(images.double(), 4)
    for b, v, patch in [(0, 0, 0), (1, 2, 5), (0, 1, 3)]:
        values = patches[b, v, patch]
        mean = values.sum() / values.numel()
        var = ((values - mean) ** 2).sum() / (values.numel() - 1)  # unbiased, as MAE's norm_pix_loss
        expected = (values - mean) / torch.sqrt(var + 1e-6)
        torch.testing.assert_close(target[b, v, patch].double(), expected, rtol=1e-5, atol=1e-5)
    assert target.dtype == torch.float32
    torch.testing.assert_close(patch_targets(images, 4, normalize=False), patchify(images, 4))
