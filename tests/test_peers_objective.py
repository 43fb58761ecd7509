"""The peers' masks and loss: exact ratios, visible indices, and only masked patches scored."""

import pytest
import torch

from muskie.peers.masking import num_visible_patches, sample_drop_masks, visible_indices
from muskie.peers.objective import masked_patch_loss
from muskie.pretraining.masking import num_masked_patches


@pytest.mark.parametrize("ratio, grid", [(0.75, (4, 4)), (0.9, (8, 8)), (0.75, (3, 5))])
def test_every_view_hits_the_mask_ratio_exactly(ratio, grid):
    mask = sample_drop_masks(3, 4, *grid, ratio, torch.Generator().manual_seed(0))
    length = grid[0] * grid[1]
    assert mask.shape == (3, 4, length) and mask.dtype == torch.bool
    assert (mask.sum(-1) == num_masked_patches(ratio, length)).all()
    assert len({tuple(m.tolist()) for m in mask.flatten(0, 1)}) > 1, "views draw their own masks"


def test_visible_indices_list_the_unmasked_patches_in_order():
    mask = sample_drop_masks(2, 3, 4, 4, 0.75, torch.Generator().manual_seed(1))
    kept = num_visible_patches(0.75, 16)
    visible = visible_indices(mask, kept)
    assert visible.shape == (2, 3, 4) and visible.dtype == torch.int64
    for row_mask, row in zip(mask.flatten(0, 1), visible.flatten(0, 1), strict=True):
        assert row.tolist() == torch.nonzero(~row_mask).flatten().tolist()


def test_a_ratio_that_leaves_nothing_visible_is_refused():
    with pytest.raises(ValueError, match="leaves 0 visible"):
        num_visible_patches(0.9, 4)


def test_only_masked_patches_are_scored():
    generator = torch.Generator().manual_seed(3)
    pred, target = torch.randn(2, 3, 16, 48, generator=generator), torch.randn(2, 3, 16, 48, generator=generator)
    mask = sample_drop_masks(2, 3, 4, 4, 0.75, generator)
    loss = masked_patch_loss(pred, target, mask)
    expected = ((pred - target) ** 2).mean(-1)[mask].mean()
    torch.testing.assert_close(loss, expected)
    perturbed = pred.clone()
    perturbed[~mask] += 10 * torch.randn_like(perturbed[~mask])
    assert torch.equal(masked_patch_loss(perturbed, target, mask), loss)
    perturbed = pred.clone()
    perturbed[mask] += 1.0
    assert masked_patch_loss(perturbed, target, mask) > loss


def test_bad_loss_inputs_raise():
    with pytest.raises(ValueError, match="bool mask"):
        masked_patch_loss(torch.zeros(1, 1, 4, 3), torch.zeros(1, 1, 4, 3), torch.zeros(1, 1, 4))
