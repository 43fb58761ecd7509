from types import SimpleNamespace

import pytest
import torch

from muskie.data.batch import ViewBatch
from muskie.model.patches import patchify
from muskie.pretraining.masked_views import _fill_prediction, evaluate_reconstruction

PATCH = 4


class Oracle(torch.nn.Module):
    """Predicts every patch exactly (it cheats: it reads the unmasked input)."""

    config = SimpleNamespace(patch_size=PATCH)

    def forward(self, images, patch_mask=None):
        pred = patchify(images, PATCH)
        return SimpleNamespace(pred=pred, confidence=torch.ones_like(pred))


class Grey(Oracle):
    """Predicts 0 (grey 0.5 in [0, 1] pixels) everywhere."""

    def forward(self, images, patch_mask=None):
        out = super().forward(images, patch_mask)
        out.pred = torch.zeros_like(out.pred)
        return out


def _scenes(batch=3, views=3, size=16):
    images = torch.where(
        torch.rand(batch, views, 3, size, size, generator=torch.Generator().manual_seed(0)) > 0.5, 1.0, -1.0
    )
    return [ViewBatch(images=images)]


def test_known_answers():
    scores, passes = evaluate_reconstruction(Oracle(), _scenes(), num_ref=1, mask_mode="random", keep_passes=1)
    means = scores.mean()
    assert means["with_refs"] == means["without_refs"] == means["other_scene_refs"] == 0.0
    assert scores.scenes == 3
    # binary pixels 0/1 in [0, 1] units: grey is off by 0.5 everywhere
    grey = evaluate_reconstruction(Grey(), _scenes(), num_ref=1, mask_mode="ellipse")[0].mean()
    assert grey["with_refs"] == pytest.approx(0.25)
    # the fill baseline predicts the mean of visible pixels, about 0.5 for these random binary pixels
    assert grey["fill"] == pytest.approx(0.25, abs=0.02)
    record = passes[0]
    assert (
        record.mask[:, :1].sum() == 0 and (record.mask[:, 1:].flatten(2).sum(-1) == 14).all()
    )  # floor(0.9 * 16 + 0.5)


def test_fill_baseline_on_a_constructed_view():
    images = -torch.ones(1, 1, 3, 8, 8)
    images[..., :4, :] = 1.0  # top half white, bottom half black
    images[:, :, 0] = 0.5  # red channel a constant 0.75 in [0, 1] pixels
    mask = torch.tensor([[False, False], [True, True]])[None, None]  # 4-pixel patches: bottom row masked
    filled = _fill_prediction(images, mask, PATCH)
    assert torch.equal(filled[..., :4, :], images[..., :4, :]), "visible patches are kept"
    assert torch.allclose(filled[:, :, 0, 4:], torch.full((4, 8), 0.5)), "per-channel mean of visible pixels"
    assert torch.equal(filled[:, :, 1:, 4:], torch.ones(1, 1, 2, 4, 8))
    _, passes = evaluate_reconstruction(
        Grey(), [ViewBatch(images=images.repeat(2, 2, 1, 1, 1))], num_ref=1, mask_mode="random", keep_passes=1
    )
    assert passes[0].images.shape == (2, 2, 3, 8, 8)


def test_bad_reference_count():
    with pytest.raises(ValueError, match="num_ref"):
        evaluate_reconstruction(Oracle(), _scenes(views=2), num_ref=2, mask_mode="random")
