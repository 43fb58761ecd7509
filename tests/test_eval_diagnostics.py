"""Correspondence diagnostics on constructed backbones with known answers: content matchers find shifted
copies, positional and constant ones do not."""

import math

import pytest
import torch

from muskie.eval.backbones import FeatureBackbone, FeatureOutput, build_backbone
from muskie.eval.backbones.muskie_backbone import random_muskie_backbone
from muskie.eval.diagnostics import (
    Diagnostics,
    ShiftScore,
    diagnostics_table,
    run_diagnostics,
    same_cell_share,
    same_cell_shares,
    shift_content,
    shifted_cells,
    shifted_copy_test,
    shifted_pair,
)

CELL = 8


def noise(n=3, height=32, width=40, seed=0):
    return torch.rand(n, 3, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def patches(images):
    """``(B, V, h, w, 3 * CELL * CELL)``: each cell's pixels, from ``images (B, V, 3, H, W)``."""
    b, v, _, height, width = images.shape
    unfolded = torch.nn.functional.unfold(images.flatten(0, 1), CELL, stride=CELL)  # (BV, 3*p*p, L)
    return unfolded.transpose(1, 2).reshape(b, v, height // CELL, width // CELL, -1)


class Cells(FeatureBackbone):
    """Test backbones on a grid of CELL-pixel cells."""

    def grid_size(self, height, width):
        return height // CELL, width // CELL


class ContentFeatures(Cells):
    """Features: a fixed random projection of each cell's pixels (a pure function of image content).
    Attention (``multi_view``): a sharp softmax of the negative squared feature distance between cells."""

    name = "content"

    def __init__(self, multi_view=False, channels=16):
        super().__init__()
        self.multi_view = multi_view
        self.register_buffer(
            "projection", torch.randn(3 * CELL * CELL, channels, generator=torch.Generator().manual_seed(7))
        )

    def forward(self, images, block=-1, with_attention=False):
        features = patches(images) @ self.projection
        attention = None
        if with_attention:
            b, v, h, w, c = features.shape
            flat = features.reshape(b, v * h * w, c).double()
            attention = torch.softmax(-(torch.cdist(flat, flat) ** 2), dim=-1)
            attention = attention.reshape(b, v, h * w, v, h * w)
        return FeatureOutput(features=features, attention=attention)


class PositionalAttention(Cells):
    """Constant features and attention that always points at the query's own cell (an identity map)."""

    name = "positional"
    multi_view = True

    def forward(self, images, block=-1, with_attention=False):
        b, v, _, height, width = images.shape
        cells = (height // CELL) * (width // CELL)
        features = torch.ones(b, v, height // CELL, width // CELL, 4)
        eye = torch.eye(cells).view(1, 1, cells, 1, cells).expand(b, v, cells, v, cells) / v
        return FeatureOutput(features=features, attention=eye.contiguous() if with_attention else None)


class ShiftOracle(Cells):
    """Attention built to point from view 0's cells at the cells their content moves to under a known shift
    (uniform where it leaves the grid); no features worth matching."""

    name = "oracle"
    multi_view = True

    def __init__(self, shift, axis):
        super().__init__()
        self.shift, self.axis = shift, axis

    def forward(self, images, block=-1, with_attention=False):
        b, v, _, height, width = images.shape
        grid = (height // CELL, width // CELL)
        cells = grid[0] * grid[1]
        attention = torch.full((b, v, cells, v, cells), 1.0 / cells)
        target = shifted_cells(grid, self.shift, self.axis)
        inside = target >= 0
        attention[:, 0, inside, 1, :] = 0.0
        attention[:, 0, inside.nonzero()[:, 0], 1, target[inside]] = 1.0
        return FeatureOutput(features=torch.zeros(b, v, *grid, 1), attention=attention)


class Constant(Cells):
    name = "constant"

    def forward(self, images, block=-1, with_attention=False):
        b, v, _, height, width = images.shape
        return FeatureOutput(features=torch.ones(b, v, height // CELL, width // CELL, 3))


# ---------------------------------------------------------------- same-cell share


def test_identity_attention_has_same_cell_share_one_and_others_have_what_they_must():
    cells, views = 20, 3
    identity = torch.eye(cells).view(1, 1, cells, 1, cells).expand(2, views, cells, views, cells)
    assert same_cell_share(identity) == 1.0
    rolled = identity.roll(1, dims=-1)  # every maximum on the next cell
    assert same_cell_share(rolled) == 0.0
    assert same_cell_share(torch.ones(1, views, cells, views, cells)) == 0.0  # ties are not "same"
    # same cell towards view 1 only: views 0 and 1 agree on each other, view 2 does not
    mixed = rolled.clone()
    mixed[:, 0, :, 1] = torch.eye(cells)
    mixed[:, 1, :, 0] = torch.eye(cells)
    assert same_cell_share(mixed) == pytest.approx(2 / 6)  # 2 of the 6 ordered pairs of distinct views


def test_same_cell_share_ignores_attention_within_a_view():
    cells = 6
    attention = torch.eye(cells).roll(2, dims=-1).view(1, 1, cells, 1, cells).repeat(1, 2, 1, 2, 1)
    attention[:, 0, :, 0] = torch.eye(cells)  # the view to itself: not counted
    attention[:, 1, :, 1] = torch.eye(cells)
    assert same_cell_share(attention) == 0.0


def test_same_cell_shares_per_block_and_errors():
    cells = 4
    identity = torch.eye(cells).view(1, 1, cells, 1, cells).expand(1, 2, cells, 2, cells)
    assert same_cell_shares({3: identity, 0: identity.roll(1, dims=-1)}) == {0: 0.0, 3: 1.0}
    assert same_cell_shares([identity, identity]) == {0: 1.0, 1: 1.0}
    with pytest.raises(ValueError, match=r"\(B, V, L, V, L\)"):
        same_cell_share(torch.zeros(1, 2, 4, 2, 5))
    with pytest.raises(ValueError, match="2 views"):
        same_cell_share(torch.zeros(1, 1, 4, 1, 4))


def test_same_cell_shares_read_a_muskie_forward_pass():
    model = random_muskie_backbone("tiny").model
    out = model(noise(1, 32, 32)[None].expand(1, 3, 3, 32, 32).contiguous(), attention_blocks=[0, 3])
    shares = same_cell_shares(out.attention)
    assert set(shares) == {0, 3} and all(0 <= s <= 1 for s in shares.values())


# ---------------------------------------------------------------- shifted copies


def test_shift_content_moves_pixels_and_reflects_the_border():
    images = noise(2, 16, 24)
    right = shift_content(images, 5, "x")
    torch.testing.assert_close(right[..., 5:], images[..., :-5])
    torch.testing.assert_close(right[..., :5], images[..., 1:6].flip(-1))  # reflection, edge not repeated
    down = shift_content(images, 3, "y")
    torch.testing.assert_close(down[..., 3:, :], images[..., :-3, :])
    with pytest.raises(ValueError, match="shift"):
        shift_content(images, 24, "x")
    with pytest.raises(ValueError, match="axis"):
        shift_content(images, 1, "z")


def test_crop_pairs_show_the_same_content_moved():
    big = noise(2, 40, 48)
    pair = shifted_pair(big, 8, "x", border="crop", size=(32, 40))
    assert pair.shape == (2, 2, 3, 32, 40)
    view, copy = pair[:, 0], pair[:, 1]
    torch.testing.assert_close(view, big[..., 8:, 8:])
    torch.testing.assert_close(copy[..., 8:], view[..., :-8])  # content moved right by 8
    pair = shifted_pair(big, 4, "y", border="crop", size=(32, 40))
    torch.testing.assert_close(pair[:, 1, :, 4:], pair[:, 0, :, :-4])
    with pytest.raises(ValueError, match="margin"):
        shifted_pair(big, 16, "x", border="crop", size=(32, 40))
    with pytest.raises(ValueError, match="size"):
        shifted_pair(big, 8, "x", border="crop")


def test_shifted_cells_know_where_content_goes():
    torch.testing.assert_close(shifted_cells((2, 3), 1, "x"), torch.tensor([1, 2, -1, 4, 5, -1]))
    torch.testing.assert_close(shifted_cells((2, 3), 1, "y"), torch.tensor([3, 4, 5, -1, -1, -1]))


@pytest.mark.parametrize("border", ["reflect", "crop"])
def test_content_features_find_every_shifted_cell(border):
    backbone = ContentFeatures(multi_view=True)
    images, size = (noise(3, 40 + 32, 48 + 32), (40, 48)) if border == "crop" else (noise(3, 40, 48), None)
    scores = shifted_copy_test(backbone, images, shifts=(1, 2, 4), border=border, size=size)
    assert [(s.readout, s.axis, s.shift) for s in scores] == [
        (r, a, s) for r in ("nn", "attention") for a in ("x", "y") for s in (1, 2, 4)
    ]
    for score in scores:
        grid_h, grid_w = 5, 6
        kept = grid_h * (grid_w - score.shift) if score.axis == "x" else (grid_h - score.shift) * grid_w
        assert score.cells == 3 * kept and score.pixels == CELL * score.shift
        assert score.found == 1.0 and score.same == 0.0


def test_content_features_find_shifts_with_the_cosine_metric():
    scores = shifted_copy_test(ContentFeatures(), noise(), shifts=(1, 2), nn_metric="cosine")
    assert {s.readout for s in scores} == {"nn"}  # frame-wise: no attention rows
    assert all(s.found == 1.0 for s in scores)


def test_positional_and_constant_maps_find_nothing():
    for score in shifted_copy_test(PositionalAttention(), noise(3, 40, 48), shifts=(1, 2, 4)):
        if score.readout == "attention":
            assert (score.found, score.same) == (0.0, 1.0)
        else:  # constant features: every cell ties
            assert (score.found, score.same) == (0.0, 0.0)
    for score in shifted_copy_test(build_backbone("zero-motion:8"), noise(), shifts=(1, 2)):
        assert (score.found, score.same) == (0.0, 1.0)
    for score in shifted_copy_test(Constant(), noise(), shifts=(1,)):
        assert (score.found, score.same) == (0.0, 0.0)


@pytest.mark.parametrize("axis", ["x", "y"])
def test_attention_built_to_point_at_the_shifted_cell_finds_all_of_them(axis):
    (score,) = shifted_copy_test(ShiftOracle(2, axis), noise(), shifts=(2,), axes=(axis,), readouts=("attention",))
    assert score.found == 1.0 and score.same == 0.0 and score.cells == 3 * (12 if axis == "x" else 10)  # of 4x5 cells


def test_shifts_beyond_the_grid_score_nothing_and_bad_settings_are_refused():
    scores = shifted_copy_test(ContentFeatures(), noise(1, 16, 40), shifts=(2,), axes=("y",))
    assert scores[0].cells == 0 and math.isnan(scores[0].found)
    with pytest.raises(ValueError, match="positive"):
        shifted_copy_test(ContentFeatures(), noise(), shifts=(0,))
    with pytest.raises(ValueError, match="whole-pixel"):
        shifted_copy_test(FixedGrid(), noise(1, 30, 30), shifts=(1,))


class FixedGrid(Constant):
    """A 4x4 grid whatever the image size (as a resizing ViT): 30 px views have no whole-pixel cells."""

    def grid_size(self, height, width):
        return 4, 4


# ---------------------------------------------------------------- on evaluation samples


def samples(count=2, views=3, size=32):
    return [{"images": noise(views, size, size, seed=i)} for i in range(count)]


def test_run_diagnostics_on_a_multi_view_and_a_frame_wise_backbone():
    muskie = run_diagnostics(random_muskie_backbone("tiny"), samples(), shifts=(1, 2))
    assert set(muskie.same_cell) == {0, 1, 2, 3} and muskie.chance == 1 / 16
    assert all(0 <= s <= 1 for s in muskie.same_cell.values())
    assert len(muskie.shifted) == 2 * 2 * 2 and not muskie.skipped
    assert {s.cells for s in muskie.shifted if s.shift == 1} == {2 * 12}
    positional = run_diagnostics(PositionalAttention(), samples(), shifts=(1,))
    assert positional.same_cell == {0: 1.0}
    content = run_diagnostics(ContentFeatures(), samples(), shifts=(1,))
    assert content.same_cell == {} and "attention" in content.skipped
    assert all(s.found == 1.0 for s in content.shifted)
    data = content.to_dict()
    assert data["shifted_copy"][0]["found"] == 1.0 and data["settings"]["shifts"] == [1]
    with pytest.raises(ValueError, match="no samples"):
        run_diagnostics(ContentFeatures(), [])


def test_diagnostics_table_shows_both_diagnostics():
    result = Diagnostics(
        backbone="m",
        same_cell={0: 0.97, 1: 1.0},
        chance=1 / 64,
        shifted=[ShiftScore("attention", "x", 1, 8, 56, 0.0, 0.98)],
    )
    table = diagnostics_table([result, Diagnostics(backbone="frame-wise")])
    assert "| backbone | block 0 % | block 1 % | chance % |" in table
    assert "| m | 97 | 100 | 1.562 |" in table
    assert "| m | attention | x | 1 | 8 | 56 | 0 | 98 |" in table
    assert "frame-wise" not in table  # nothing to show for it
