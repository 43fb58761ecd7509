"""Readouts on constructed features and attention with known answers."""

import numpy as np
import pytest
import torch

from muskie.eval.backbones import cell_centres
from muskie.eval.readouts import (
    attention_matches,
    concatenate_normalised,
    default_multi_layers,
    mean_attention,
    nearest_neighbour_matches,
    sample_grid,
)

GRID = (4, 5)  # (h, w) cells
IMAGE = (32, 40)  # 8-pixel cells


def permutation():
    return torch.randperm(GRID[0] * GRID[1], generator=torch.Generator().manual_seed(0))


def test_cell_centres_of_patches():
    centres = cell_centres(*GRID, *IMAGE)
    assert centres.shape == (20, 2)
    torch.testing.assert_close(centres[7], torch.tensor([2 * 8 + 3.5, 1 * 8 + 3.5]))


def test_bilinear_sampling_maps_pixels_to_cells_exactly():
    # a grid holding its own cell centres is a linear function: sampling it returns the pixel itself
    centres = cell_centres(*GRID, *IMAGE, dtype=torch.float64).reshape(*GRID, 2)
    uv = torch.tensor([[3.5, 3.5], [10.25, 17.0], [35.5, 27.5], [20.0, 9.75]], dtype=torch.float64)
    torch.testing.assert_close(sample_grid(centres, uv, *IMAGE), uv)
    # beyond the outermost centres the border value is kept
    torch.testing.assert_close(
        sample_grid(centres, torch.tensor([[0.0, 0.0]], dtype=torch.float64), *IMAGE),
        torch.tensor([[3.5, 3.5]], dtype=torch.float64),
    )


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_nearest_neighbour_on_one_hot_positions_is_exact(metric):
    cells = GRID[0] * GRID[1]
    perm = permutation()
    source = torch.eye(cells).reshape(*GRID, cells)
    target = torch.zeros(cells, cells)
    target[perm] = torch.eye(cells)  # target cell perm[i] carries source cell i's code
    queries = cell_centres(*GRID, *IMAGE)
    matches = nearest_neighbour_matches(source, target.reshape(1, *GRID, cells), queries, IMAGE, metric)
    torch.testing.assert_close(matches[0], cell_centres(*GRID, *IMAGE)[perm])


def test_nearest_neighbour_l2_and_cosine_differ_as_defined():
    source = torch.tensor([[[1.0, 0.0]]])  # one cell
    target = torch.tensor([[[[3.0, 0.0], [0.9, 0.5]]]])  # same direction far away; near but rotated
    query = torch.tensor([[0.0, 0.0]])
    assert nearest_neighbour_matches(source, target, query, (8, 16), "l2")[0, 0, 0] == 11.5
    assert nearest_neighbour_matches(source, target, query, (8, 16), "cosine")[0, 0, 0] == 3.5
    with pytest.raises(ValueError, match="metric"):
        nearest_neighbour_matches(source, target, query, (8, 16), "dot")


def one_hot_attention(perm):
    cells = perm.numel()
    attention = torch.zeros(cells, cells)
    attention[torch.arange(cells), perm] = 1.0
    return attention


def test_soft_argmax_of_one_hot_attention_returns_that_cell_centre():
    perm = permutation()
    a_st = one_hot_attention(perm)
    queries = cell_centres(*GRID, *IMAGE)
    matches = attention_matches(a_st[None], a_st.T[None], GRID, GRID, queries, IMAGE)
    torch.testing.assert_close(matches[0], cell_centres(*GRID, *IMAGE)[perm])


def test_attention_flow_is_upsampled_bilinearly_between_cells():
    # every cell attends to the cell one to its right (the last column to itself): a constant flow of one cell
    h, w = GRID
    index = torch.arange(h * w).reshape(h, w)
    shifted = torch.cat([index[:, 1:], index[:, -1:]], dim=1).flatten()
    a_st = one_hot_attention(shifted)
    # queries between the centres of the first three columns: interpolation of flows (8, 0) and (8, 0)
    queries = torch.tensor([[5.0, 4.0], [12.25, 20.5], [17.0, 11.0]])
    matches = attention_matches(a_st[None], a_st.T[None], GRID, GRID, queries, IMAGE)
    torch.testing.assert_close(matches[0], queries + torch.tensor([8.0, 0.0]))


def test_symmetrised_attention_breaks_ties_with_the_reverse_direction():
    # source cell 0 attends equally to target cells 1 and 2; only cell 2 attends back: it wins
    cells = GRID[0] * GRID[1]
    a_st = torch.zeros(1, cells, cells)
    a_st[0, 0, 1] = a_st[0, 0, 2] = 0.5
    a_ts = torch.zeros(1, cells, cells)
    a_ts[0, 2, 0] = 1.0
    query = cell_centres(*GRID, *IMAGE)[:1]
    matches = attention_matches(a_st, a_ts, GRID, GRID, query, IMAGE)
    torch.testing.assert_close(matches[0], cell_centres(*GRID, *IMAGE)[2:3])


def test_attention_readout_checks_its_inputs():
    a = torch.zeros(1, 20, 20)
    with pytest.raises(ValueError, match="temperature"):
        attention_matches(a, a, GRID, GRID, torch.zeros(1, 2), IMAGE, temperature=0)
    with pytest.raises(ValueError, match="do not fit"):
        attention_matches(a, a, (2, 2), GRID, torch.zeros(1, 2), IMAGE)


def test_attention_averaged_over_blocks_follows_the_majority_of_blocks():
    # two blocks attend by the permutation, one by another: the mean puts 2/3 on the permutation and wins
    perm, other = permutation(), torch.roll(permutation(), 1)
    maps = [one_hot_attention(perm), one_hot_attention(other), one_hot_attention(perm)]
    a_st = mean_attention([m[None] for m in maps])
    a_ts = mean_attention([m.T[None] for m in maps])
    queries = cell_centres(*GRID, *IMAGE)
    matches = attention_matches(a_st, a_ts, GRID, GRID, queries, IMAGE)
    torch.testing.assert_close(matches[0], cell_centres(*GRID, *IMAGE)[perm])


def reference_attention_matches(maps_st, maps_ts, queries, temperature):
    """A plain float64 NumPy readout: mean over blocks, symmetrise, softmax, expected centre, bilinear flow."""
    a_st = np.mean([m.numpy().astype(np.float64) for m in maps_st], axis=0)
    a_ts = np.mean([m.numpy().astype(np.float64) for m in maps_ts], axis=0)
    logits = (a_st + a_ts.T) / 2 / temperature
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    (h, w), (height, width) = GRID, IMAGE
    centres = np.array(
        [[(j + 0.5) * width / w - 0.5, (i + 0.5) * height / h - 0.5] for i in range(h) for j in range(w)]
    )
    flow = (weights @ centres - centres).reshape(h, w, 2)
    out = []
    for u, v in queries.numpy().astype(np.float64):
        # cell coordinates of the query, clamped to the outermost centres (the border is kept)
        x = min(max((u + 0.5) * w / width - 0.5, 0.0), w - 1.0)
        y = min(max((v + 0.5) * h / height - 0.5, 0.0), h - 1.0)
        x0, y0 = min(int(x), w - 2), min(int(y), h - 2)
        fx, fy = x - x0, y - y0
        f = (
            flow[y0, x0] * (1 - fx) * (1 - fy)
            + flow[y0, x0 + 1] * fx * (1 - fy)
            + flow[y0 + 1, x0] * (1 - fx) * fy
            + flow[y0 + 1, x0 + 1] * fx * fy
        )
        out.append([u, v] + f)
    return np.array(out)


def test_attention_averaged_over_blocks_matches_a_float64_reference():
    generator = torch.Generator().manual_seed(1)
    cells = GRID[0] * GRID[1]
    maps_st = [torch.softmax(torch.randn(cells, cells, generator=generator), dim=-1) for _ in range(3)]
    maps_ts = [torch.softmax(torch.randn(cells, cells, generator=generator), dim=-1) for _ in range(3)]
    queries = torch.rand(25, 2, generator=generator) * torch.tensor([IMAGE[1] - 1.0, IMAGE[0] - 1.0])
    temperature = 0.05  # soft enough that every cell counts
    matches = attention_matches(
        mean_attention([m[None] for m in maps_st]),
        mean_attention([m[None] for m in maps_ts]),
        GRID,
        GRID,
        queries.double(),
        IMAGE,
        temperature,
    )
    expected = reference_attention_matches(maps_st, maps_ts, queries, temperature)
    np.testing.assert_allclose(matches[0].numpy(), expected, rtol=0, atol=1e-9)


def test_concatenated_normalised_features_identify_cells_no_single_block_does():
    # block 0 codes each cell's row, block 1 its column (at a much larger scale): only together are they unique
    h, w = GRID
    rows = torch.eye(h)[torch.arange(h).repeat_interleave(w)]  # (h*w, h)
    cols = 1000.0 * torch.eye(w)[torch.arange(w).repeat(h)]  # (h*w, w)
    perm = permutation()
    source = concatenate_normalised([rows.reshape(h, w, h), cols.reshape(h, w, w)])
    target = torch.zeros(h * w, h + w)
    target[perm] = source.reshape(h * w, h + w)
    assert torch.allclose(source.norm(dim=-1), torch.full((h, w), 2.0**0.5))  # each block has unit norm
    queries = cell_centres(*GRID, *IMAGE)
    matches = nearest_neighbour_matches(source, target.reshape(1, h, w, h + w), queries, IMAGE, "l2")
    torch.testing.assert_close(matches[0], cell_centres(*GRID, *IMAGE)[perm])
    with pytest.raises(ValueError, match="at least one"):
        concatenate_normalised([])
    with pytest.raises(ValueError, match="at least one"):
        mean_attention([])


def test_default_multi_layers_are_probe3ds():
    assert default_multi_layers(12) == (2, 5, 8, 11)
    assert default_multi_layers(24) == (5, 11, 17, 23)
    assert default_multi_layers(4) == (0, 1, 2, 3)
    assert default_multi_layers(2) == (0, 1)
