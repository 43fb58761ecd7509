"""Feature PCA as RGB: components fitted jointly over views, consistent colours, deterministic signs."""

import pytest
import torch

from muskie.vis.pca import pca_figure, pca_rgb


def constructed_features():
    """Two views of 4x4 cells whose features vary along three orthogonal directions with decreasing spread;
    view 1 holds view 0's cells in reverse order."""
    generator = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(16, 3, generator=generator, dtype=torch.float64))[0].T  # (3, 16)
    # centred, uncorrelated coefficients with distinct spreads: the principal directions are exactly the basis
    raw = torch.randn(16, 3, generator=generator, dtype=torch.float64)
    coefficients = torch.linalg.qr(raw - raw.mean(0))[0] * torch.tensor([9.0, 3.0, 1.0], dtype=torch.float64)
    view0 = coefficients @ basis + 5.0
    return torch.stack([view0, view0.flip(0)]).reshape(2, 4, 4, 16).float(), coefficients


def test_same_features_get_the_same_colour_in_every_view():
    features, _ = constructed_features()
    rgb = pca_rgb(features)
    assert rgb.shape == (2, 4, 4, 3) and rgb.min() >= 0 and rgb.max() <= 1
    torch.testing.assert_close(rgb[1].reshape(16, 3).flip(0), rgb[0].reshape(16, 3))


def test_channels_follow_the_principal_directions_in_order():
    features, coefficients = constructed_features()
    rgb = pca_rgb(features)[0].reshape(16, 3).double()
    for channel in range(3):  # channel c is an increasing or decreasing affine map of coefficient c (up to clipping)
        order = coefficients[:, channel].argsort()
        values = rgb[order, channel]
        steps = values[1:] - values[:-1]
        assert (steps >= -1e-6).all() or (steps <= 1e-6).all()
    # colours do not depend on the features' scale or offset
    torch.testing.assert_close(pca_rgb(3 * features - 1), pca_rgb(features), atol=1e-5, rtol=0)


def test_fewer_than_three_directions_fill_with_grey():
    features = torch.zeros(1, 2, 2, 2)
    features[0, :, :, 0] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    rgb = pca_rgb(features)
    assert torch.all(rgb[..., 1:] == 0.5)
    assert rgb[0, 0, 0, 0] != rgb[0, 1, 1, 0]


def test_figure_has_one_row_per_backbone_and_checks_shapes():
    features, _ = constructed_features()
    images = torch.zeros(2, 3, 32, 32)
    one = pca_figure(images, [("a", pca_rgb(features))])
    two = pca_figure(images, [("a", pca_rgb(features)), ("b", pca_rgb(features))], title="pca")
    assert two.size[1] > one.size[1]
    with pytest.raises(ValueError, match="rgb must be"):
        pca_figure(images, [("a", pca_rgb(features)[:1])])
