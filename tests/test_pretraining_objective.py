"""Tests for muskie.pretraining.objective: the confidence-weighted loss against a float64 reference."""

import math

import pytest
import torch

from muskie.pretraining.objective import LOG_FLOOR, confidence_weighted_loss


def make_inputs(seed: int, shape=(2, 3, 5, 12), dtype=torch.float32, masked_fraction=0.6):
    gen = torch.Generator().manual_seed(seed)
    pred = (torch.rand(shape, generator=gen) * 2 - 1).to(dtype)
    target = (torch.rand(shape, generator=gen) * 2 - 1).to(dtype)
    confidence = torch.sigmoid(torch.randn(shape, generator=gen) * 2).to(dtype)
    mask = torch.rand(shape[:3], generator=gen) < masked_fraction
    return pred, confidence, target, mask


def reference_loss(pred, confidence, target, mask, conf_weight=0.1, conf_offset=0.1):
    """The brief's formula, written plainly in float64 over the list of masked patches."""
    p, c, t = (x.double()[mask] for x in (pred, confidence, target))  # (M, K)
    reconstruction = ((c + conf_offset) * (p - t) ** 2).mean(1).mean(0)
    penalty = (-torch.log(c)).mean(1).mean(0)
    mse = ((p - t) ** 2).mean()
    return reconstruction + conf_weight * penalty, reconstruction, penalty, mse


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("weights", [(0.1, 0.1), (0.5, 0.0), (0.0, 1.0)])
def test_matches_the_float64_reference(seed, weights):
    pred, confidence, target, mask = make_inputs(seed)
    out = confidence_weighted_loss(pred, confidence, target, mask, *weights)
    expected = reference_loss(pred, confidence, target, mask, *weights)
    for got, want in zip((out.loss, out.reconstruction, out.confidence_penalty, out.masked_mse), expected, strict=True):
        assert got.dtype == torch.float32 and got.shape == ()
        assert got.item() == pytest.approx(want.item(), rel=1e-5)


def test_gradients_match_the_float64_reference():
    pred, confidence, target, mask = make_inputs(3)
    pred32, conf32 = pred.clone().requires_grad_(), confidence.clone().requires_grad_()
    confidence_weighted_loss(pred32, conf32, target, mask).loss.backward()
    pred64, conf64 = pred.double().requires_grad_(), confidence.double().requires_grad_()
    reference_loss(pred64, conf64, target, mask)[0].backward()
    torch.testing.assert_close(pred32.grad, pred64.grad.float(), rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(conf32.grad, conf64.grad.float(), rtol=1e-5, atol=1e-8)


def test_visible_patches_do_not_count():
    pred, confidence, target, mask = make_inputs(4)
    base = confidence_weighted_loss(pred, confidence, target, mask)
    pred2, confidence2 = pred.clone(), confidence.clone()
    pred2[~mask] = 5.0
    confidence2[~mask] = 1e-3  # the release would pay -log c here
    changed = confidence_weighted_loss(pred2, confidence2, target, mask)
    assert changed.loss.item() == base.loss.item()
    assert changed.confidence_penalty.item() == base.confidence_penalty.item()

    pred.requires_grad_()
    confidence.requires_grad_()
    confidence_weighted_loss(pred, confidence, target, mask).loss.backward()
    assert (pred.grad[~mask] == 0).all() and (confidence.grad[~mask] == 0).all()
    assert (pred.grad[mask] != 0).any()


def test_optimal_confidence_is_conf_weight_over_squared_error():
    # One masked patch whose values have squared errors e in (0.1, 4): the optimum c = 0.1 / e lies in (0, 1).
    errors = torch.linspace(0.15, 3.5, 12, dtype=torch.float64)
    target = torch.zeros(1, 1, 1, 12, dtype=torch.float64)
    pred = errors.sqrt().view(1, 1, 1, 12)
    mask = torch.ones(1, 1, 1, dtype=torch.bool)
    optimum = (0.1 / errors).view(1, 1, 1, 12)

    confidence = optimum.clone().requires_grad_()
    out = confidence_weighted_loss(pred, confidence, target, mask)
    out.loss.backward()
    assert confidence.grad.abs().max().item() < 1e-6
    for factor in (0.8, 1.25):
        assert confidence_weighted_loss(pred, optimum * factor, target, mask).loss > out.loss


def test_no_masked_patch_gives_a_zero_loss_that_backpropagates():
    pred, confidence, target, _ = make_inputs(5)
    pred.requires_grad_()
    confidence.requires_grad_()
    out = confidence_weighted_loss(pred, confidence, target, torch.zeros(pred.shape[:3], dtype=torch.bool))
    assert out.loss.item() == 0.0 and out.masked_mse.item() == 0.0
    assert out.loss.requires_grad
    out.loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    assert torch.equal(confidence.grad, torch.zeros_like(confidence))


def test_masked_mse_is_detached():
    pred, confidence, target, mask = make_inputs(6)
    out = confidence_weighted_loss(pred.requires_grad_(), confidence, target, mask)
    assert not out.masked_mse.requires_grad and out.loss.requires_grad


def test_bf16_inputs_and_autocast_compute_in_float32():
    pred, confidence, target, mask = make_inputs(7, dtype=torch.bfloat16)
    expected = reference_loss(pred, confidence, target, mask)[0].item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = confidence_weighted_loss(pred, confidence, target, mask)
    assert out.loss.dtype == torch.float32
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)


def test_zero_confidence_stays_finite():
    pred, confidence, target, mask = make_inputs(8)
    confidence = confidence.clone()
    confidence[mask] = 0.0
    confidence.requires_grad_()
    out = confidence_weighted_loss(pred, confidence, target, mask)
    assert out.confidence_penalty.item() == pytest.approx(-math.log(LOG_FLOOR))
    out.loss.backward()
    assert torch.isfinite(confidence.grad).all()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p, c, t, m: (p[0], c[0], t[0], m[0]), "pred must be"),
        (lambda p, c, t, m: (p, c[..., :-1], t, m), "confidence has shape"),
        (lambda p, c, t, m: (p, c, t[:, :1], m), "target has shape"),
        (lambda p, c, t, m: (p, c, t, m[..., :-1]), "mask must be"),
        (lambda p, c, t, m: (p, c, t, m.float()), "mask must be bool"),
        (lambda p, c, t, m: (p, c, (t * 100).long(), m), "floating-point"),
    ],
)
def test_bad_input_raises_a_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        confidence_weighted_loss(*change(*make_inputs(9)))


def test_negative_weights_are_rejected():
    with pytest.raises(ValueError, match="conf_weight"):
        confidence_weighted_loss(*make_inputs(10), conf_weight=-0.1)
