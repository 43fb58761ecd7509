"""The tracks figure: layout, colours at the drawn positions, hidden points left out."""

import pytest
import torch

from muskie.vis.tracks import MIN_TILE_SIZE, query_colors, tracks_figure

SIZE = 32


def setup():
    images = -torch.ones(3, 3, SIZE, SIZE)  # black views: every drawn colour stands out
    queries = torch.tensor([[5.0, 6.0], [20.0, 25.0]])
    predicted = torch.stack([queries, queries + 2, queries - 3])
    target = torch.stack([queries, queries + 2, queries + torch.tensor([4.0, 0.0])])
    visible = torch.tensor([[False, False], [True, True], [True, False]])
    return images, predicted, target, visible


def pixel_at(figure, row, view, uv, top, left, scale):
    tile = SIZE * scale
    x = left + view * (tile + 4) + (uv[0] + 0.5) * scale
    y = top + row * (tile + 4) + (uv[1] + 0.5) * scale
    return figure.getpixel((int(x), int(y)))


def test_dots_have_their_query_colours_and_hidden_points_are_not_drawn():
    images, predicted, target, visible = setup()
    figure = tracks_figure(images, {"nn": predicted}, target, visible)
    scale = -(-MIN_TILE_SIZE // SIZE)
    width, height = figure.size
    assert height < 2 * SIZE * scale  # one readout row
    left = width - 6 - 3 * (SIZE * scale + 4) + 4  # panels are right-aligned against the margin
    top = height - 6 - SIZE * scale
    colors = query_colors(2)
    assert pixel_at(figure, 0, 0, (5.0, 6.0), top, left, scale) == colors[0]  # query dot in view 0
    assert pixel_at(figure, 0, 1, (22.0, 27.0), top, left, scale) == colors[1]  # prediction in view 1
    assert pixel_at(figure, 0, 2, (17.0, 22.0), top, left, scale) == (0, 0, 0)  # query 1 hidden in view 2


def test_one_row_per_readout_and_bad_shapes_refused():
    images, predicted, target, visible = setup()
    one = tracks_figure(images, {"nn": predicted}, target, visible)
    two = tracks_figure(images, {"nn": predicted, "attention": predicted}, None, None, title="t")
    assert two.size[1] > one.size[1] + MIN_TILE_SIZE
    with pytest.raises(ValueError, match=r"\(3, N, 2\)"):
        tracks_figure(images, {"nn": predicted[:2]})
    with pytest.raises(ValueError, match="at least one readout"):
        tracks_figure(images, {})
