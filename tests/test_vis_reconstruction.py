"""Tests for muskie.vis.reconstruction: every region of the figure comes from the right source."""

import numpy as np
import pytest
import torch

from muskie.vis.reconstruction import (
    COLUMNS,
    MASK_GREY,
    MIN_TILE_SIZE,
    colorize_confidence,
    reconstruction_figure,
    reconstruction_panels,
)

RED, BLUE = (255, 0, 0), (0, 0, 255)


def solid(color, views, height, width):
    """(V, 3, H, W) in [-1, 1] of one colour given in 0..255."""
    values = torch.tensor(color, dtype=torch.float32) / 127.5 - 1
    return values.view(1, 3, 1, 1).expand(views, 3, height, width).clone()


def example(views=3, height=16, width=24, patch=8):
    images = torch.rand(views, 3, height, width, generator=torch.Generator().manual_seed(0)) * 2 - 1
    pred = torch.rand(views, 3, height, width, generator=torch.Generator().manual_seed(1)) * 2 - 1
    confidence = torch.rand(views, 3, height, width, generator=torch.Generator().manual_seed(2))
    mask = torch.rand(views, height // patch, width // patch, generator=torch.Generator().manual_seed(3)) < 0.5
    return images, mask, pred, confidence


def to_uint8(x):
    return np.rint(np.clip((x.numpy().transpose(0, 2, 3, 1) + 1) / 2, 0, 1) * 255).astype(np.uint8)


def test_panels_take_masked_patches_from_the_prediction_and_visible_ones_from_the_input():
    images, mask, pred, confidence = example()
    panels = reconstruction_panels(images, mask, pred, confidence)
    assert list(panels) == list(COLUMNS)
    for panel in panels.values():
        assert panel.shape == (3, 16, 24, 3) and panel.dtype == np.uint8
    pixel_mask = mask.repeat_interleave(8, 1).repeat_interleave(8, 2).numpy()
    inputs, predicted = to_uint8(images), to_uint8(pred)
    assert np.array_equal(panels["input"], inputs)
    assert np.array_equal(panels["prediction"], predicted)
    assert np.array_equal(panels["reconstruction"][pixel_mask], predicted[pixel_mask])
    assert np.array_equal(panels["reconstruction"][~pixel_mask], inputs[~pixel_mask])
    assert (panels["masked input"][pixel_mask] == MASK_GREY).all()
    assert np.array_equal(panels["masked input"][~pixel_mask], inputs[~pixel_mask])
    expected_conf = colorize_confidence(confidence.mean(1).numpy())
    assert np.array_equal(panels["confidence 0..1"], expected_conf)


def test_predictions_outside_the_pixel_range_are_clipped():
    images, mask, pred, confidence = example()
    panels = reconstruction_panels(images, mask, pred * 5, confidence)
    assert np.array_equal(panels["prediction"], to_uint8((pred * 5).clamp(-1, 1)))


def test_confidence_ramp_runs_from_dark_to_light():
    colors = colorize_confidence(np.linspace(0, 1, 11)).astype(float)
    assert colors.shape == (11, 3)
    assert tuple(colors[0]) == (68, 1, 84) and tuple(colors[-1]) == (253, 231, 37)
    lightness = colors @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(lightness) > 0)
    assert np.array_equal(colorize_confidence(np.array([-1.0, 2.0])), colors[[0, -1]].astype(np.uint8))


def test_figure_counts_every_pixel_of_every_source():
    # Solid colours make each source countable in the figure without knowing its layout.
    views, height, width, patch = 3, 16, 16, 4
    images, pred = solid(RED, views, height, width), solid(BLUE, views, height, width)
    confidence = torch.zeros(views, 3, height, width)
    mask = torch.zeros(views, height // patch, width // patch, dtype=torch.bool)
    mask[1, :2] = True  # 8 patches
    mask[2, 3, 1] = True  # 1 patch
    ref_views = torch.tensor([True, False, False])
    figure = reconstruction_figure(images, mask, pred, confidence, ref_views, title="scene 7")
    assert figure.mode == "RGB"

    scale = MIN_TILE_SIZE // height
    area = scale * scale
    pixels = np.asarray(figure).reshape(-1, 3)

    def count(color):
        return int((pixels == color).all(axis=1).sum())

    masked = int(mask.sum()) * patch * patch * area
    view_pixels = views * height * width * area
    # input column + the visible part of the masked input and of the reconstruction
    assert count(RED) == view_pixels + 2 * (view_pixels - masked)
    # prediction column + the masked part of the reconstruction
    assert count(BLUE) == view_pixels + masked
    assert count(MASK_GREY) == masked
    assert count(tuple(colorize_confidence(np.array(0.0)))) == view_pixels


def test_small_views_are_enlarged_and_large_ones_kept():
    images, mask, pred, confidence = example(views=2, height=64, width=64, patch=8)
    small = reconstruction_figure(images, mask, pred, confidence, torch.tensor([True, False]))
    assert small.width > len(COLUMNS) * 64 * 3 and small.height > 2 * 64 * 3
    images, mask, pred, confidence = example(views=1, height=224, width=224, patch=16)
    large = reconstruction_figure(images, mask, pred, confidence, torch.tensor([False]))
    assert len(COLUMNS) * 224 < large.width < len(COLUMNS) * 224 + 150
    assert 224 < large.height < 224 + 60


def test_reference_views_are_labelled():
    images, mask, pred, confidence = example(views=2)
    labelled = np.asarray(reconstruction_figure(images, mask, pred, confidence, torch.tensor([True, False])))
    plain = np.asarray(reconstruction_figure(images, mask, pred, confidence, torch.tensor([False, False])))
    assert labelled.shape == plain.shape
    assert (labelled != plain).any()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda i, m, p, c, r: (i[:, :2], m, p, c, r), "images must be"),
        (lambda i, m, p, c, r: (i, m, p[:, :, :8], c, r), "pred has shape"),
        (lambda i, m, p, c, r: (i, m, p, c[:2], r), "confidence has shape"),
        (lambda i, m, p, c, r: (i, m.float(), p, c, r), "mask must be"),
        (lambda i, m, p, c, r: (i, torch.zeros(3, 2, 5, dtype=torch.bool), p, c, r), "does not divide"),
        (lambda i, m, p, c, r: (i, m, p, c, r[:1]), "ref_views must be"),
    ],
)
def test_bad_input_raises_a_clear_error(change, message):
    images, mask, pred, confidence = example()
    with pytest.raises(ValueError, match=message):
        reconstruction_figure(*change(images, mask, pred, confidence, torch.tensor([True, False, False])))
