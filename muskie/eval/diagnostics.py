"""Correspondence diagnostics: do a backbone's matches follow image content, or do they copy positions?

Every view of a Muskie scene gets the same RoPE positions, and on small-baseline views "the same cell of the
other view" is nearly the right answer. A model can therefore score well on correspondence while its
cross-view attention only looks at the same position. Two diagnostics tell the cases apart:

- **Same-cell share** (:func:`same_cell_share`, :func:`same_cell_shares`): for cross-view attention maps, the
  share of (query view, query cell, other view) triples whose attention maximum in the other view sits on the
  query's own cell index. Chance is ``1 / L``; real scenes put it somewhat above chance (parts of views do
  overlap in place); near 1 in every block means the attention copies positions.
- **Shifted-copy test** (:func:`shifted_copy_test`): each image is paired with a copy of itself whose content
  is translated by ``s`` feature cells (``s * cell`` pixels) along x (to the right) or y (downwards). The
  true match of cell ``(i, j)`` is then ``(i, j + s)`` (x) or ``(i + s, j)`` (y), exactly, and a content
  matcher finds it; a positional one answers ``(i, j)``. Reported per shift: the share of scored cells whose
  best match (attention maximum, or nearest-neighbour feature) is the true shifted cell (``found``) and the
  share that stays on the same index (``same``).

A best match counts only when it is the *unique* maximum: a constant map (every cell tied) neither finds the
shifted cell nor stays on the same one. Scores are compared in float64.

:func:`run_diagnostics` runs both on evaluation samples (``muskie eval correspondence --diagnostics``);
:func:`same_cell_shares` takes :attr:`muskie.model.backbone.BackboneOutput.attention` as it is, so a
training loop can log it from a forward pass with ``attention_blocks`` set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from muskie import report
from muskie.eval.backbones.base import FeatureBackbone

SHIFTS = (1, 2, 4)
AXES = ("x", "y")
BORDERS = ("reflect", "crop")
DIAGNOSTIC_READOUTS = ("nn", "attention")
_QUERY_CHUNK = 1024  # query cells scored at once by the nearest-neighbour test: bounds memory on fine grids


def _unique_best(scores: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(...)`` bool: True where ``scores (..., L)`` at ``index (...)`` (long, ``-1`` = no index) is strictly
    larger than every other entry of its row."""
    safe = index.clamp(min=0)[..., None]
    at = scores.gather(-1, safe)[..., 0]
    if scores.shape[-1] == 1:
        return index >= 0
    others = scores.scatter(-1, safe, -math.inf).amax(dim=-1)
    return (index >= 0) & (at > others)


# ---------------------------------------------------------------- same-cell share


def same_cell_share(attention: torch.Tensor) -> float:
    """Share in [0, 1] of (scene, query view, query cell, other view) whose attention maximum over the other
    view's cells is the query's own cell index (a unique maximum; ties count as not same).

    Args:
        attention: ``(B, V, L, V, L)`` cross-view attention (query view, query cell, key view, key cell; cells
            row-major, every view on the same grid), probabilities or scores; ``V >= 2``.
    """
    if attention.dim() != 5 or attention.shape[1] != attention.shape[3] or attention.shape[2] != attention.shape[4]:
        raise ValueError(f"attention must be (B, V, L, V, L), got {tuple(attention.shape)}")
    b, v, cells = attention.shape[:3]
    if v < 2:
        raise ValueError("the same-cell share needs at least 2 views")
    scores = attention.float() if attention.dtype in (torch.float16, torch.bfloat16) else attention
    own = torch.arange(cells, device=attention.device).view(1, 1, cells, 1).expand(b, v, cells, v)
    hits = _unique_best(scores, own)  # (B, V, L, V)
    other = ~torch.eye(v, dtype=torch.bool, device=attention.device)
    return float(hits.permute(0, 2, 1, 3)[:, :, other].double().mean())


def same_cell_shares(attention: Mapping[int, torch.Tensor] | Sequence[torch.Tensor]) -> dict[int, float]:
    """:func:`same_cell_share` of each block: ``{block index: share}`` for a mapping of block index ->
    ``(B, V, L, V, L)`` (e.g. ``BackboneOutput.attention``) or a sequence of maps (indexed 0, 1, ...)."""
    items = attention.items() if isinstance(attention, Mapping) else enumerate(attention)
    return {int(block): same_cell_share(maps) for block, maps in sorted(items)}


# ---------------------------------------------------------------- shifted copies


def shift_content(images: torch.Tensor, pixels: int, axis: str) -> torch.Tensor:
    """``images (N, 3, H, W)`` with their content translated by ``pixels`` (>= 0) to the right (``axis``
    ``x``) or downwards (``y``): ``out[..., y, x] = images[..., y, x - pixels]``. The uncovered strip is
    filled by reflection about the image edge (the edge pixel itself not repeated), so ``pixels`` must be
    smaller than the image side."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    height, width = images.shape[-2:]
    side = width if axis == "x" else height
    if not 0 <= pixels < side:
        raise ValueError(f"a shift of {pixels} px along {axis} needs 0 <= shift < {side} (the image side)")
    if pixels == 0:
        return images.clone()
    if axis == "x":
        return F.pad(images, (pixels, 0, 0, 0), mode="reflect")[..., :width]
    return F.pad(images, (0, 0, pixels, 0), mode="reflect")[..., :height, :]


def shifted_pair(
    images: torch.Tensor, pixels: int, axis: str, border: str = "reflect", size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Pairs ``(N, 2, 3, H, W)`` of a view and a copy of it with the content moved by ``pixels`` along
    ``axis`` (right for ``x``, down for ``y``).

    ``border="reflect"``: the views are ``images (N, 3, H, W)`` themselves, the copy is
    :func:`shift_content` (uncovered strip reflected). ``border="crop"``: ``images`` are larger renders
    ``(N, 3, H + My, W + Mx)`` and ``size = (H, W)``: the view is the bottom-right ``H x W`` window and the
    copy the window ``pixels`` further up or left, so both show real content (the margin must cover the
    shift).
    """
    if border == "reflect":
        return torch.stack([images, shift_content(images, pixels, axis)], dim=1)
    if border != "crop":
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    if size is None:
        raise ValueError("border='crop' needs size=(H, W), the views' size inside the larger images")
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    height, width = size
    margin_y, margin_x = images.shape[-2] - height, images.shape[-1] - width
    margin = margin_x if axis == "x" else margin_y
    if min(margin_x, margin_y) < 0 or not 0 <= pixels <= margin:
        raise ValueError(
            f"border='crop': images {tuple(images.shape[-2:])} leave a margin of {margin} px along "
            f"{axis} around {height}x{width} views, less than the shift of {pixels} px"
        )
    dy, dx = (0, pixels) if axis == "x" else (pixels, 0)
    view = images[..., margin_y:, margin_x:]
    copy = images[..., margin_y - dy : margin_y - dy + height, margin_x - dx : margin_x - dx + width]
    return torch.stack([view, copy], dim=1)


def shifted_cells(grid: tuple[int, int], shift: int, axis: str) -> torch.Tensor:
    """``(h*w,)`` long: for each cell of an ``(h, w)`` grid (row-major) the index of the cell its content
    moves to when the image moves by ``shift`` cells along ``axis``; ``-1`` where it leaves the grid."""
    grid_h, grid_w = grid
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    rows, cols = (rows, cols + shift) if axis == "x" else (rows + shift, cols)
    inside = (rows < grid_h) & (cols < grid_w)
    return torch.where(inside, rows * grid_w + cols, torch.full_like(rows, -1)).flatten()


@dataclass(frozen=True)
class ShiftScore:
    """One line of the shifted-copy test.

    Attributes:
        readout: ``nn`` (nearest-neighbour feature match) or ``attention`` (cross-view attention maximum).
        axis: ``x`` or ``y``; shift: feature cells the content moved; pixels: the same in pixels.
        cells: scored query cells (over all images; cells whose content leaves the copy are not scored, and
            a shift of the whole grid side or more scores none).
        found: share of them whose best match is the true shifted cell; same: share that stays on the
            query's own cell index. Both in [0, 1]; NaN when no cell is scored.
    """

    readout: str
    axis: str
    shift: int
    pixels: int
    cells: int
    found: float
    same: float


def _nn_hits(source: torch.Tensor, target: torch.Tensor, true_index: torch.Tensor, metric: str):
    """``(found, same)`` bool ``(L,)`` of one image's nearest-neighbour matches from ``source (L, C)`` into
    ``target (L, C)``, scored in float64 and in chunks of query cells."""
    source, target = source.double(), target.double()
    if metric == "cosine":
        source, target = F.normalize(source, dim=-1), F.normalize(target, dim=-1)
    target_sq = (target**2).sum(-1)
    found, same = [], []
    for start in range(0, source.shape[0], _QUERY_CHUNK):
        chunk = source[start : start + _QUERY_CHUNK]
        if metric == "cosine":
            scores = chunk @ target.T
        else:  # -||q - c||^2 up to the query's own norm
            scores = 2 * chunk @ target.T - target_sq
        own = torch.arange(start, start + chunk.shape[0], device=scores.device)
        found.append(_unique_best(scores, true_index[start : start + chunk.shape[0]]))
        same.append(_unique_best(scores, own))
    return torch.cat(found), torch.cat(same)


@torch.no_grad()
def shifted_copy_test(
    backbone: FeatureBackbone,
    images: torch.Tensor,
    shifts: Iterable[int] = SHIFTS,
    axes: Iterable[str] = AXES,
    block: int = -1,
    readouts: Sequence[str] = DIAGNOSTIC_READOUTS,
    nn_metric: str = "l2",
    border: str = "reflect",
    size: tuple[int, int] | None = None,
    batch_size: int = 8,
) -> list[ShiftScore]:
    """The shifted-copy test (module docstring) of one backbone.

    Args:
        backbone: any :class:`FeatureBackbone`; each pair runs as one scene of 2 views. Its grid must divide
            the view size evenly (cells of a whole number of pixels), so that a shift of whole cells is a
            shift of whole pixels and the true cell is exact.
        images: ``(N, 3, H, W)`` in [-1, 1], single views (``border="crop"``: larger renders, see
            :func:`shifted_pair`, with ``size`` the views' size).
        shifts: shifts in feature cells (positive); axes: any of ``x``, ``y``.
        block: the block whose features / attention are read.
        readouts: ``nn`` and/or ``attention``; ``attention`` is left out for backbones that are not
            ``multi_view``.
        nn_metric: ``l2`` or ``cosine``, as the nearest-neighbour readout.
        batch_size: pairs per forward pass.

    Returns:
        one :class:`ShiftScore` per readout, axis and shift, in that order.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
    if nn_metric not in ("l2", "cosine"):
        raise ValueError(f"nn_metric must be l2 or cosine, got {nn_metric!r}")
    shifts, axes = [int(s) for s in shifts], list(axes)
    if not shifts or min(shifts) < 1 or not axes or any(a not in AXES for a in axes):
        raise ValueError(f"shifts must be positive cell counts and axes a non-empty subset of {AXES}")
    readouts = [r for r in readouts if r != "attention" or backbone.multi_view]
    if any(r not in DIAGNOSTIC_READOUTS for r in readouts):
        raise ValueError(f"readouts must be a subset of {DIAGNOSTIC_READOUTS}, got {readouts}")
    height, width = size if border == "crop" and size is not None else images.shape[-2:]
    grid_h, grid_w = backbone.grid_size(height, width)
    if height % grid_h or width % grid_w:
        raise ValueError(
            f"{backbone.name}: a {grid_h}x{grid_w} grid does not split {height}x{width} views into "
            "whole-pixel cells, so a shift of whole cells has no exact true cell"
        )
    cell = {"x": width // grid_w, "y": height // grid_h}
    scores = []
    for readout in readouts:
        for axis in axes:
            for shift in shifts:
                scores.append((readout, axis, shift))
    hits = {key: [torch.zeros(0, dtype=torch.bool), torch.zeros(0, dtype=torch.bool)] for key in scores}
    for axis in axes:
        for shift in shifts:
            true_index = shifted_cells((grid_h, grid_w), shift, axis)
            scored = true_index >= 0
            if not bool(scored.any()):  # the content leaves the grid entirely: nothing to score
                continue
            for start in range(0, images.shape[0], batch_size):
                pairs = shifted_pair(images[start : start + batch_size], shift * cell[axis], axis, border, size)
                out = backbone(pairs, block=block, with_attention="attention" in readouts)
                for readout in readouts:
                    found, same = hits[(readout, axis, shift)]
                    for n in range(pairs.shape[0]):
                        if readout == "nn":
                            features = out.features[n].flatten(1, 2)  # (2, L, C)
                            f, s = _nn_hits(features[0], features[1], true_index.to(features.device), nn_metric)
                        else:
                            maps = out.attention[n, 0, :, 1, :]  # (L, L): the view's cells -> the copy's
                            maps = maps.float() if maps.dtype in (torch.float16, torch.bfloat16) else maps
                            own = torch.arange(maps.shape[0], device=maps.device)
                            f = _unique_best(maps, true_index.to(maps.device))
                            s = _unique_best(maps, own)
                        found = torch.cat([found, f[scored].cpu()])
                        same = torch.cat([same, s[scored].cpu()])
                    hits[(readout, axis, shift)] = [found, same]
    results = []
    for readout, axis, shift in scores:
        found, same = hits[(readout, axis, shift)]
        count = int(found.numel())
        results.append(
            ShiftScore(
                readout=readout,
                axis=axis,
                shift=shift,
                pixels=shift * cell[axis],
                cells=count,
                found=float(found.double().mean()) if count else math.nan,
                same=float(same.double().mean()) if count else math.nan,
            )
        )
    return results


# ---------------------------------------------------------------- both, on evaluation samples


@dataclass
class Diagnostics:
    """Both diagnostics of one backbone.

    Attributes:
        backbone: its name.
        same_cell: block index -> same-cell share on the evaluation samples (multi-view backbones; empty
            otherwise).
        chance: the same-cell share of uniformly random maxima, ``1 / L`` (None without attention).
        shifted: the shifted-copy test's lines.
        skipped: what was not run, and why.
        settings: shifts, axes, border, block, metric.
    """

    backbone: str
    same_cell: dict[int, float] = field(default_factory=dict)
    chance: float | None = None
    shifted: list[ShiftScore] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready (NaN -> None; shares stay in [0, 1])."""

        def clean(value):
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            "backbone": self.backbone,
            "same_cell": {str(b): clean(s) for b, s in self.same_cell.items()},
            "chance": self.chance,
            "skipped": self.skipped,
            "settings": self.settings,
            "shifted_copy": [{k: clean(v) for k, v in asdict(score).items()} for score in self.shifted],
        }


@torch.no_grad()
def run_diagnostics(
    backbone: FeatureBackbone,
    samples: Sequence[dict],
    block: int = -1,
    shifts: Iterable[int] = SHIFTS,
    axes: Iterable[str] = AXES,
    nn_metric: str = "l2",
    border: str = "reflect",
) -> Diagnostics:
    """Both diagnostics on evaluation samples (``images (V, 3, H, W)`` in [-1, 1] each).

    The same-cell share is measured in every block on every sample's full set of views (multi-view backbones
    only). The shifted-copy test pairs view 0 of each sample with its shifted copies (``border`` as in
    :func:`shifted_pair`; ``crop`` is not available here since the samples are not larger renders) and reads
    block ``block``.
    """
    if not samples:
        raise ValueError("no samples to diagnose")
    if border != "reflect":
        raise ValueError(
            "run_diagnostics shifts the samples' own views: border must be 'reflect' (call "
            "shifted_copy_test with larger renders for 'crop')"
        )
    shifts, axes = tuple(shifts), tuple(axes)
    result = Diagnostics(
        backbone=backbone.name,
        settings={
            "block": block,
            "shifts": list(shifts),
            "axes": list(axes),
            "border": border,
            "nn_metric": nn_metric,
            "images": len(samples),
        },
    )
    if backbone.multi_view:
        maps: dict[int, list[torch.Tensor]] = {}
        for sample in samples:
            for index in range(backbone.depth):
                out = backbone(sample["images"][None], block=index, with_attention=True)
                maps.setdefault(index, []).append(out.attention)
        for index, per_sample in maps.items():
            shares = [same_cell_share(a) for a in per_sample]  # equal weights: every sample has V x L x (V-1)
            result.same_cell[index] = float(sum(shares) / len(shares))
        result.chance = 1.0 / per_sample[0].shape[2]
    else:
        result.skipped["attention"] = "no cross-view attention (frame-wise backbone)"
    views = torch.stack([sample["images"][0] for sample in samples])
    result.shifted = shifted_copy_test(backbone, views, shifts, axes, block=block, nn_metric=nn_metric, border=border)
    return result


def _percent(share: float | None):
    return None if share is None or (isinstance(share, float) and math.isnan(share)) else 100.0 * share


def diagnostics_table(results: Sequence[Diagnostics]) -> str:
    """Markdown: the same-cell share per block (one row per multi-view backbone, %, with chance), then the
    shifted-copy test (one row per backbone, readout, axis and shift: scored cells, found %, same %)."""
    sections = []
    attentive = [r for r in results if r.same_cell]
    if attentive:
        blocks = sorted({b for r in attentive for b in r.same_cell})
        rows = [[r.backbone, *(_percent(r.same_cell.get(b)) for b in blocks), _percent(r.chance)] for r in attentive]
        table = report.markdown_table(["backbone", *(f"block {b} %" for b in blocks), "chance %"], rows)
        sections.append(
            "Same-cell share: cross-view attention maximum on the query's own cell index (% of query "
            "cells x other views; near 100 in every block = the attention copies positions):\n\n"
            f"{table}\n"
        )
    rows = [
        [r.backbone, s.readout, s.axis, s.shift, s.pixels, s.cells, _percent(s.found), _percent(s.same)]
        for r in results
        for s in r.shifted
    ]
    if rows:
        table = report.markdown_table(
            ["backbone", "readout", "axis", "shift cells", "shift px", "cells", "found %", "same cell %"], rows
        )
        sections.append(
            "Shifted-copy test: a view and a copy of it translated by s cells; % of cells whose best "
            "match is the true shifted cell (found) or the query's own cell (same cell):\n\n"
            f"{table}\n"
        )
    return "\n".join(sections)
