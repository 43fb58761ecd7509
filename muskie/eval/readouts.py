"""Readouts: from a backbone's features or cross-view attention to a matching pixel in a target view.

Both readouts take query pixels of a source view and return one predicted pixel per query in each target
view. Pixel coordinates are ``(u, v)`` = (column, row) with pixel centres at integers; feature grids tile the
image uniformly (:mod:`muskie.eval.backbones.base`), so a grid may be coarser than the image or even differ
between source and target.

- :func:`nearest_neighbour_matches`: the query's feature, sampled bilinearly between cell centres, is
  compared with every cell of the target's grid (squared L2 distance as in the paper, or cosine
  similarity); the answer is the centre of the best cell, so its resolution is one cell.
- :func:`attention_matches`: the brief's readout for multi-view backbones. The attention between the
  source and the target is symmetrised, ``S = (A_s->t + A_t->s^T) / 2``; a softmax of ``S / temperature``
  over the target's cells (temperature 1e-4: nearly an argmax, but smooth between near-ties) gives each
  source cell an expected target position; the flow (expected position minus the source cell's centre) is
  upsampled bilinearly to the query pixels and added to them, so the answer is sub-cell.

Several blocks can feed one readout: :func:`mean_attention` averages attention maps over blocks (the paper's
Muskie readout averages every global-attention layer before the soft-argmax) and
:func:`concatenate_normalised` joins the L2-normalised features of several blocks into one grid (probe3d's
multi-layer features) for the nearest neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from muskie.eval.backbones.base import cell_centres, pixels_to_grid

NN_METRICS = ("l2", "cosine")
DEFAULT_TEMPERATURE = 1e-4


def default_multi_layers(depth: int) -> tuple[int, ...]:
    """probe3d's multi-layer choice for a ``depth``-block backbone: the last block of each quarter,
    ``(depth//4 - 1, depth//2 - 1, 3*(depth//4) - 1, depth - 1)`` without repeats (``(2, 5, 8, 11)`` for 12
    blocks); fewer than 4 blocks: every block."""
    if depth < 4:
        return tuple(range(depth))
    return tuple(dict.fromkeys((depth // 4 - 1, depth // 2 - 1, depth // 4 * 3 - 1, depth - 1)))


def readout_blocks(readout: str, depth: int, block: int = -1, layers: Sequence[int] = ()) -> list[int]:
    """The blocks (non-negative indices of a ``depth``-block backbone) a readout reads: every block for
    ``attention-all``, ``layers`` (empty: :func:`default_multi_layers`) for ``nn-multi``, else ``[block]``.
    Negative indices count from the end; ValueError for one out of range."""
    if readout == "attention-all":
        return list(range(depth))
    chosen = (tuple(layers) or default_multi_layers(depth)) if readout == "nn-multi" else (block,)
    bad = [i for i in chosen if not -depth <= i < depth]
    if bad:
        raise ValueError(
            f"block(s) {bad} out of range for {depth} blocks (use 0..{depth - 1} or negative indices from the end)"
        )
    return [i % depth for i in chosen]


def mean_attention(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """The float64 mean of equally shaped attention maps (one per block), e.g. ``(T, Ls, Lt)`` each."""
    if not maps:
        raise ValueError("give at least one attention map to average")
    return torch.stack([m.double() for m in maps]).mean(dim=0)


def concatenate_normalised(grids: Sequence[torch.Tensor]) -> torch.Tensor:
    """Feature grids ``(..., h, w, C_i)`` of several blocks, each L2-normalised per cell over its channels,
    concatenated to ``(..., h, w, sum C_i)``: every block weighs the same in a distance, whatever its scale."""
    if not grids:
        raise ValueError("give at least one feature grid")
    return torch.cat([F.normalize(g.float(), dim=-1) for g in grids], dim=-1)


def sample_grid(grid: torch.Tensor, uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear samples ``(N, C)`` of a grid ``(h, w, C)`` tiling an ``H x W`` image at pixels ``uv (N, 2)``;
    beyond the outermost cell centres the border value is kept."""
    grid_in = grid.permute(2, 0, 1)[None].to(uv.dtype)  # (1, C, h, w)
    where = pixels_to_grid(uv, height, width)[None, :, None, :]  # (1, N, 1, 2)
    samples = F.grid_sample(grid_in, where, mode="bilinear", padding_mode="border", align_corners=False)
    return samples[0, :, :, 0].T


def nearest_neighbour_matches(
    source_features: torch.Tensor,
    target_features: torch.Tensor,
    queries: torch.Tensor,
    image_size: tuple[int, int],
    metric: str = "l2",
) -> torch.Tensor:
    """Nearest-neighbour matches of ``queries`` in each target view.

    Args:
        source_features: ``(h, w, C)`` the source view's feature grid.
        target_features: ``(T, h2, w2, C)`` the grids of ``T`` target views.
        queries: ``(N, 2)`` float pixel coordinates ``(u, v)`` in the source view.
        image_size: ``(H, W)`` of every view, pixels.
        metric: ``l2`` (smallest squared Euclidean distance) or ``cosine`` (largest cosine similarity).

    Returns:
        ``(T, N, 2)`` float pixel coordinates in the target views: centres of the chosen cells.
    """
    if metric not in NN_METRICS:
        raise ValueError(f"unknown nearest-neighbour metric {metric!r}; choose one of {', '.join(NN_METRICS)}")
    height, width = image_size
    num_targets, grid_h, grid_w, channels = target_features.shape
    query_features = sample_grid(source_features.float(), queries.float(), height, width)  # (N, C)
    candidates = target_features.float().reshape(num_targets, grid_h * grid_w, channels)  # (T, L, C)
    if metric == "cosine":
        scores = F.normalize(query_features, dim=-1) @ F.normalize(candidates, dim=-1).transpose(1, 2)
    else:  # -||q - c||^2 up to the query's own norm, which does not change the argmax
        scores = 2 * query_features @ candidates.transpose(1, 2) - (candidates**2).sum(-1)[:, None, :]
    best = scores.argmax(dim=-1)  # (T, N)
    centres = cell_centres(grid_h, grid_w, height, width, device=queries.device)
    return centres[best]


def attention_matches(
    attention_st: torch.Tensor,
    attention_ts: torch.Tensor,
    source_grid: tuple[int, int],
    target_grid: tuple[int, int],
    queries: torch.Tensor,
    image_size: tuple[int, int],
    temperature: float = DEFAULT_TEMPERATURE,
) -> torch.Tensor:
    """Cross-view attention soft-argmax matches of ``queries`` in each target view.

    Args:
        attention_st: ``(T, Ls, Lt)`` attention probabilities from the source's cells (queries of the
            attention) to each target's cells (keys), cells row-major, ``Ls = hs*ws``, ``Lt = ht*wt``.
        attention_ts: ``(T, Lt, Ls)`` attention from each target's cells to the source's.
        source_grid, target_grid: ``(h, w)`` of the source's and the targets' grids.
        queries: ``(N, 2)`` float pixel coordinates in the source view.
        image_size: ``(H, W)`` pixels of every view.
        temperature: softmax temperature on the symmetrised attention (positive).

    Returns:
        ``(T, N, 2)`` float pixel coordinates in the target views.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    (hs, ws), (ht, wt) = source_grid, target_grid
    if attention_st.shape[1:] != (hs * ws, ht * wt) or attention_ts.shape[1:] != (ht * wt, hs * ws):
        raise ValueError(
            f"attention shapes {tuple(attention_st.shape)} and {tuple(attention_ts.shape)} do not fit "
            f"grids {source_grid} -> {target_grid}"
        )
    height, width = image_size
    symmetric = (attention_st.double() + attention_ts.double().transpose(1, 2)) / 2  # (T, Ls, Lt)
    weights = torch.softmax(symmetric / temperature, dim=-1)
    target_centres = cell_centres(ht, wt, height, width, dtype=torch.float64, device=queries.device)
    source_centres = cell_centres(hs, ws, height, width, dtype=torch.float64, device=queries.device)
    flow = weights @ target_centres - source_centres  # (T, Ls, 2)
    flow_grids = flow.reshape(-1, hs, ws, 2)
    queries64 = queries.double()
    per_target = [queries64 + sample_grid(g, queries64, height, width) for g in flow_grids]
    return torch.stack(per_target).to(queries.dtype if queries.is_floating_point() else torch.float32)
