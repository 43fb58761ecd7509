"""One pre-training step (muskie.pretraining.step): the pixel head on the masked patches only gives the loss
and gradients of the head on every patch."""

import pytest
import torch
from fixtures import SMALL_MUSKIE

from muskie.config_io import ConfigError
from muskie.model import Muskie
from muskie.model.patches import patch_targets, patchify
from muskie.pretraining import MaskConfig, PretrainConfig
from muskie.pretraining.masking import sample_pretraining_masks
from muskie.pretraining.objective import confidence_weighted_loss
from muskie.pretraining.step import pretraining_loss, shuffle_views


def trained_muskie(dtype=torch.float32) -> Muskie:
    """A :data:`SMALL_MUSKIE` in training mode with a non-zero mask token and pixel head."""
    torch.manual_seed(0)
    model = Muskie(SMALL_MUSKIE).to(dtype)
    with torch.no_grad():
        model.mask_placeholder.normal_()
        model.decoder_pred.weight.normal_(std=0.2)
    return model


def images(b=2, v=4, h=16, w=24, dtype=torch.float32) -> torch.Tensor:
    return (torch.rand(b, v, 3, h, w, generator=torch.Generator().manual_seed(1), dtype=dtype) * 2 - 1).to(dtype)


def test_the_head_on_chosen_patches_predicts_their_rows_of_the_full_head():
    model = trained_muskie(torch.float64)
    x = images(dtype=torch.float64)
    mask = torch.rand(2, 4, 4, 6, generator=torch.Generator().manual_seed(2)) < 0.6
    full = model(x, patch_mask=mask)
    index = mask.flatten().nonzero().squeeze(1)
    chosen = model(x, patch_mask=mask, predict_patches=index)
    for name in ("pred", "confidence", "confidence_logits"):
        rows = getattr(full, name).flatten(0, 2)[index]
        assert getattr(chosen, name).shape == rows.shape == (len(index), SMALL_MUSKIE.pixel_dim)
        torch.testing.assert_close(getattr(chosen, name), rows, rtol=1e-12, atol=1e-12)
    assert all(torch.equal(a, b) for a, b in zip(full.features, chosen.features, strict=True)), (
        "the backbone runs unchanged"
    )


def test_predict_patches_must_be_int64_indices():
    model = trained_muskie()
    with pytest.raises(ValueError, match="predict_patches must be a 1-D int64 tensor"):
        model(images(), predict_patches=torch.zeros(2, 4, 4, 6, dtype=torch.bool))


@pytest.mark.parametrize("modes", [("random",), ("rectangle",)])
def test_masked_only_head_gives_the_loss_and_gradients_of_the_full_head(modes):
    """The same masks (same generator seed), the loss over the same masked patches: equal up to the order of
    float32 sums, gradients included."""
    results = []
    for masked_only in (False, True):
        model = trained_muskie()
        generator = torch.Generator().manual_seed(3)
        out = pretraining_loss(model, images(), MaskConfig(modes=modes), generator, predict_masked_only=masked_only)
        out.output.loss.backward()
        results.append((out, {name: p.grad for name, p in model.named_parameters()}))
    (full, full_grads), (masked, masked_grads) = results
    assert masked.mask_mode == full.mask_mode and masked.num_views == full.num_views == 8
    for part in ("loss", "reconstruction", "confidence_penalty", "masked_mse"):
        torch.testing.assert_close(getattr(masked.output, part), getattr(full.output, part), rtol=2e-6, atol=0)
    assert full.output.loss > 0
    for name, grad in full_grads.items():
        torch.testing.assert_close(masked_grads[name], grad, rtol=1e-5, atol=1e-8, msg=name)


def test_masked_only_head_with_no_masked_patch_is_a_connected_zero():
    model = trained_muskie()
    no_mask = MaskConfig(modes=("random",), random_ratio=0.0)
    out = pretraining_loss(model, images(), no_mask, torch.Generator().manual_seed(0), predict_masked_only=True)
    assert out.output.loss == 0
    out.output.loss.backward()
    assert model.decoder_pred.weight.grad is not None and not model.decoder_pred.weight.grad.any()


def test_predict_masked_only_is_for_the_muskie_method():
    with pytest.raises(ConfigError, match="predict_masked_only applies to method muskie only, not croco"):
        PretrainConfig(method="croco", predict_masked_only=True).validate()


def test_norm_pix_loss_scores_the_normalised_patches_of_the_same_masks():
    """The same masks (same generator seed): with ``norm_pix_loss`` the loss is the confidence-weighted loss
    of the model's predictions against per-patch normalised targets, computed here in float64."""
    model = trained_muskie()
    x = images()
    generator = torch.Generator().manual_seed(4)
    out = pretraining_loss(model, x, MaskConfig(modes=("random",)), generator, norm_pix_loss=True)
    generator = torch.Generator().manual_seed(4)
    shuffled = shuffle_views(x, generator)
    masks = sample_pretraining_masks(2, 4, 4, 6, MaskConfig(modes=("random",)), generator)
    forward = model(shuffled, patch_mask=masks.mask)
    patches = patchify(shuffled.double(), SMALL_MUSKIE.patch_size)
    mean = patches.mean(-1, keepdim=True)
    std = ((patches - mean).square().sum(-1, keepdim=True) / (patches.shape[-1] - 1) + 1e-6).sqrt()
    target = (patches - mean) / std
    scored = masks.mask.flatten(2).double()
    pred, conf = forward.pred.double(), forward.confidence.double()
    per_patch = ((conf + 0.1) * (pred - target).square()).mean(-1)
    reconstruction = (per_patch * scored).sum() / scored.sum()
    penalty = (-conf.log().mean(-1) * scored).sum() / scored.sum()
    torch.testing.assert_close(out.output.reconstruction.double(), reconstruction, rtol=1e-5, atol=0)
    torch.testing.assert_close(out.output.loss.double(), reconstruction + 0.1 * penalty, rtol=1e-5, atol=0)
    raw = pretraining_loss(model, x, MaskConfig(modes=("random",)), torch.Generator().manual_seed(4))
    assert not torch.isclose(raw.output.loss, out.output.loss), "the raw-pixel loss is another loss"


def test_norm_pix_loss_is_for_the_muskie_method():
    with pytest.raises(ConfigError, match="norm_pix_loss applies to method muskie only, not mae"):
        PretrainConfig(method="mae", norm_pix_loss=True).validate()


def test_hide_mask_tokens_runs_the_model_with_hidden_mask_tokens():
    """The same masks (same generator seed): the step's predictions are those of the model run with
    ``hide_masked``, and another loss than without it."""
    model = trained_muskie()
    x = images()
    hidden = pretraining_loss(model, x, MaskConfig(), torch.Generator().manual_seed(4), hide_mask_tokens=True)
    generator = torch.Generator().manual_seed(4)
    shuffled = shuffle_views(x, generator)
    masks = sample_pretraining_masks(2, 4, 4, 6, MaskConfig(), generator)
    forward = model(shuffled, patch_mask=masks.mask, hide_masked=True)
    expected = confidence_weighted_loss(
        forward.pred,
        forward.confidence,
        patch_targets(shuffled, SMALL_MUSKIE.patch_size, normalize=False),
        masks.mask.flatten(2),
    )
    torch.testing.assert_close(hidden.output.loss, expected.loss, rtol=1e-6, atol=0)
    seen = pretraining_loss(model, x, MaskConfig(), torch.Generator().manual_seed(4))
    assert not torch.isclose(seen.output.loss, hidden.output.loss), "hiding changes what the model computes"


def test_hide_mask_tokens_is_for_the_muskie_method_without_a_decoder():
    with pytest.raises(ConfigError, match="hide_mask_tokens applies to method muskie only, not mum"):
        PretrainConfig(method="mum", hide_mask_tokens=True).validate()
    with pytest.raises(ConfigError, match="takes no decoder_blocks"):
        PretrainConfig(hide_mask_tokens=True, decoder_blocks=1).validate()
