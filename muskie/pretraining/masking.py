"""Patch masks for multi-view masked image modeling (MV-MIM) and the choice of reference views.

A mask is a boolean patch grid, ``True`` = masked (hidden from the model and scored by the loss). Every
mode builds a per-patch score map and masks the ``n`` lowest-scoring patches, so every masked view hits its
ratio exactly, whatever the shape, its position or the grid's borders:

    n = floor(mask_ratio * L + 0.5)        (L = grid_h * grid_w patches; halves round up)

evaluated in Python floats. The modes and their score maps:

- ``random``: uniform noise, so a uniformly random set of ``n`` patches.
- ``rectangle``: the scaled Chebyshev distance ``max(|dx| / a, |dy| / b)`` from a random centre, with an
  aspect ratio ``width / height`` drawn log-uniformly from ``aspect_range``; its level sets are
  axis-aligned rectangles. A tiny strictly convex term orders the patches of the last, partly filled ring
  from the middle of its side outwards, so every row and every column of the mask is one unbroken run.
- ``ellipse``: ``(dx / a)^2 + (dy / b)^2``, the same aspect ratios.
- ``blob``: Gaussian-smoothed white noise, masking several smooth regions.
- ``random_walk``: the distance from a random seed patch along 4-neighbour paths whose edges carry random
  positive weights; a random, irregular region that is always 4-connected.

A shape that would hang over a border cannot cover its share of the grid; the score maps simply take the
next patches around it, so border clipping never lowers the ratio (the release's rectangle and ellipse
masks average about 64% and 57% where 75% is asked for).

Randomness: every draw goes through the ``generator`` on the generator's own device, then moves to
``device``, so a CPU generator gives the same masks on every device. Nothing loops over samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MASK_MODES = ("random", "rectangle", "ellipse", "blob", "random_walk")

# Weight of the strictly convex tie-break of the rectangle score: small enough that it only reorders
# patches of the same (or nearly the same) Chebyshev ring.
_RECTANGLE_TIE_BREAK = 1e-3

# Edge weights of the random walk: integers uniform in [4, 67], from 6 random bits each. Random positive
# weights turn the distance ball into a random growth with a rough boundary (first-passage percolation, a
# randomised breadth-first search); integers keep every path length exact.
_WALK_FIELD_BITS = 6
_WALK_MIN_WEIGHT = 4
# Rounds of row and column sweeps after the closed-form start. The mask is connected after any number of
# rounds; more rounds only bring the distances closer to true shortest paths (fewer axis-aligned streaks).
_WALK_SWEEP_ROUNDS = 1


@dataclass
class MaskConfig:
    """How pre-training masks are drawn: one mode per step, each with its own ratio.

    ``modes``: the modes a step draws from (names from ``MASK_MODES``); ``mode_weights``: their relative
    probabilities, ``None`` = uniform. ``*_ratio``: the fraction of patches masked in every masked view
    under that mode, in [0, 1]. ``aspect_range``: (min, max) of the width / height ratio of rectangles and
    ellipses, drawn log-uniformly. ``blob_sigma``: the std of the blob mode's Gaussian smoothing as a
    fraction of ``sqrt(grid_h * grid_w)``. ``use_reference_views``: draw ``num_ref`` fully visible
    reference views per scene (Muskie); ``False`` masks every view (MAE / MuM-style recipes).
    """

    modes: tuple[str, ...] = ("random", "rectangle", "ellipse")
    mode_weights: tuple[float, ...] | None = None
    random_ratio: float = 0.9
    rectangle_ratio: float = 0.75
    ellipse_ratio: float = 0.75
    blob_ratio: float = 0.75
    random_walk_ratio: float = 0.75
    aspect_range: tuple[float, float] = (0.3, 3.0)
    blob_sigma: float = 0.1
    use_reference_views: bool = True

    def __post_init__(self):
        self.modes = tuple(self.modes)
        if not self.modes:
            raise ValueError("MaskConfig.modes must name at least one mode")
        for mode in self.modes:
            _check_mode(mode)
        if self.mode_weights is not None:
            self.mode_weights = tuple(float(w) for w in self.mode_weights)
            if len(self.mode_weights) != len(self.modes):
                raise ValueError(
                    f"MaskConfig.mode_weights has {len(self.mode_weights)} entries for {len(self.modes)} modes"
                )
            if min(self.mode_weights) < 0 or sum(self.mode_weights) <= 0:
                raise ValueError(f"MaskConfig.mode_weights must be >= 0 with a positive sum, got {self.mode_weights}")
        for mode in MASK_MODES:
            _check_ratio(self.ratio(mode), f"MaskConfig.{mode}_ratio")
        self.aspect_range = tuple(float(a) for a in self.aspect_range)
        _check_aspect_range(self.aspect_range)
        if not self.blob_sigma > 0:
            raise ValueError(f"MaskConfig.blob_sigma must be > 0, got {self.blob_sigma}")

    def ratio(self, mode: str) -> float:
        """The mask ratio of ``mode``."""
        _check_mode(mode)
        return getattr(self, f"{mode}_ratio")


@dataclass
class PretrainMasks:
    """The masks of one pre-training step.

    ``mask``: ``(B, V, grid_h, grid_w)`` bool, ``True`` = masked; ``ref_views``: ``(B, V)`` bool, ``True`` for
    the fully visible reference views (the first ``num_ref`` views of each scene); ``mode``: the mask mode
    drawn for this step.
    """

    mask: torch.Tensor
    ref_views: torch.Tensor
    mode: str


def num_masked_patches(mask_ratio: float, num_patches: int) -> int:
    """``floor(mask_ratio * num_patches + 0.5)``: the exact number of masked patches of a masked view.

    Halves round up (unlike Python's ``round``, which rounds them to even).
    """
    _check_ratio(mask_ratio, "mask_ratio")
    return min(num_patches, math.floor(mask_ratio * num_patches + 0.5))


def sample_num_ref(
    batch: int, num_views: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Number of reference views per scene, ``(batch,)`` long, uniform in ``floor(V/4) .. floor(V/2)``.

    8 views: 2 to 4; 2 views: 0 or 1; 1 view: always 0 (plain single-image masked image modeling).
    """
    _check_positive(batch, "batch")
    _check_positive(num_views, "num_views")
    low, high = num_views // 4, num_views // 2
    source = _source_device(generator, device)
    num_ref = torch.randint(low, high + 1, (batch,), generator=generator, device=source)
    return num_ref.to(device if device is not None else source)


def sample_pretraining_masks(
    batch: int,
    num_views: int,
    grid_h: int,
    grid_w: int,
    config: MaskConfig | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> PretrainMasks:
    """The masks of one pre-training step for ``batch`` scenes of ``num_views`` views.

    One mode is drawn for the whole call (= one step). The first ``num_ref`` views of each scene (see
    :func:`sample_num_ref`; none when ``config.use_reference_views`` is off) are reference views: all
    ``False``. Every other view gets its own mask of exactly ``num_masked_patches(ratio, grid_h * grid_w)``
    patches. The trainer shuffles the view order beforehand, so any view can be a reference.
    ``device``: where the returned tensors live; ``None`` = the generator's device (CPU without one).
    """
    config = MaskConfig() if config is None else config
    _check_positive(batch, "batch")
    _check_positive(num_views, "num_views")
    source = _source_device(generator, device)
    device = torch.device(device) if device is not None else source

    weights = torch.tensor(config.mode_weights or [1.0] * len(config.modes), dtype=torch.float64, device=source)
    mode = config.modes[int(torch.multinomial(weights, 1, generator=generator))]

    if config.use_reference_views:
        num_ref = sample_num_ref(batch, num_views, generator, device)
    else:
        num_ref = torch.zeros(batch, dtype=torch.long, device=device)
    ref_views = torch.arange(num_views, device=device) < num_ref[:, None]

    # Only the masked views get a mask drawn (about a third of the views are references).
    masked_views = ~ref_views
    mask = torch.zeros(batch, num_views, grid_h, grid_w, dtype=torch.bool, device=device)
    mask[masked_views] = sample_patch_masks(
        int(masked_views.sum()),
        grid_h,
        grid_w,
        mode,
        config.ratio(mode),
        aspect_range=config.aspect_range,
        blob_sigma=config.blob_sigma,
        generator=generator,
        device=device,
    )
    return PretrainMasks(mask=mask, ref_views=ref_views, mode=mode)


def sample_patch_masks(
    num_masks: int,
    grid_h: int,
    grid_w: int,
    mode: str = "random",
    mask_ratio: float = 0.9,
    *,
    aspect_range: tuple[float, float] = (0.3, 3.0),
    blob_sigma: float = 0.1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``num_masks`` independent masks ``(num_masks, grid_h, grid_w)`` bool, ``True`` = masked.

    Each has exactly ``num_masked_patches(mask_ratio, grid_h * grid_w)`` masked patches. ``aspect_range``
    applies to ``rectangle`` and ``ellipse``, ``blob_sigma`` to ``blob`` (see :class:`MaskConfig`).
    """
    _check_mode(mode)
    _check_positive(grid_h, "grid_h")
    _check_positive(grid_w, "grid_w")
    if num_masks < 0:
        raise ValueError(f"num_masks must be >= 0, got {num_masks}")
    _check_aspect_range(aspect_range)
    source = _source_device(generator, device)
    device = torch.device(device) if device is not None else source

    num_patches = grid_h * grid_w
    n = num_masked_patches(mask_ratio, num_patches)
    mask = torch.zeros(num_masks, num_patches, dtype=torch.bool, device=device)
    if n == 0 or num_masks == 0:
        return mask.view(num_masks, grid_h, grid_w)

    draw = _Draw(generator, source, device)
    if mode == "random":
        scores = draw.bits(num_masks, grid_h, grid_w)
    elif mode in ("rectangle", "ellipse"):
        scores = _order_keys(_shape_scores(draw, num_masks, grid_h, grid_w, n, mode, aspect_range))
    elif mode == "blob":
        scores = _order_keys(_blob_scores(draw, num_masks, grid_h, grid_w, blob_sigma))
    else:
        scores = _random_walk_scores(draw, num_masks, grid_h, grid_w)

    lowest = scores.reshape(num_masks, num_patches).topk(n, dim=1, largest=False, sorted=False).indices
    mask.scatter_(1, lowest, True)
    return mask.view(num_masks, grid_h, grid_w)


class _Draw:
    """Random tensors drawn from ``generator`` on ``source`` and delivered on ``device``."""

    def __init__(self, generator: torch.Generator | None, source: torch.device, device: torch.device):
        self.generator, self.source, self.device = generator, source, device

    def uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.source).to(self.device)

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.source).to(self.device)

    def bits(self, *shape: int) -> torch.Tensor:
        """Uniform int32 in [0, 2**31): 31 random bits, cheaper to draw than floats."""
        bits = torch.empty(shape, dtype=torch.int32, device=self.source)
        return bits.random_(generator=self.generator).to(self.device)


def _order_keys(scores: torch.Tensor) -> torch.Tensor:
    """float32 scores -> int32 keys in the same order, ties kept (``topk`` runs faster on integers).

    A non-negative float's bit pattern read as an integer already sorts like the float; for a negative one
    (sign bit set) flipping the other 31 bits reverses its order below the non-negative ones.
    """
    bits = scores.float().contiguous().view(torch.int32)
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


def _shape_scores(
    draw: _Draw, num_masks: int, grid_h: int, grid_w: int, area: int, mode: str, aspect_range: tuple[float, float]
) -> torch.Tensor:
    """Rectangle or ellipse scores ``(N, grid_h, grid_w)``: level sets are the shape grown about its centre.

    The shape has ``area`` patches and a log-uniform aspect ratio. Its centre is uniform over the positions
    where the shape, clipped to the grid's extent along each axis, lies inside the grid: a shape wider than
    the grid is centred across it, and the score's level sets then grow along the other axis.
    """
    u = draw.uniform(3, num_masks)
    log_low, log_high = math.log(aspect_range[0]), math.log(aspect_range[1])
    aspect = torch.exp(log_low + u[0] * (log_high - log_low))  # width / height
    # Half extents: a rectangle of area A is sqrt(A r) wide; an ellipse of area A has semi-axes sqrt(A r / pi).
    scale = 0.5 if mode == "rectangle" else 1.0 / math.sqrt(math.pi)
    half_w = scale * torch.sqrt(area * aspect)
    half_h = scale * torch.sqrt(area / aspect)

    # Patch centres sit at integer coordinates, so the grid spans [-0.5, size - 0.5] along each axis.
    fit_w = half_w.clamp(max=grid_w / 2)
    fit_h = half_h.clamp(max=grid_h / 2)
    centre_x = fit_w - 0.5 + u[1] * (grid_w - 2 * fit_w)
    centre_y = fit_h - 0.5 + u[2] * (grid_h - 2 * fit_h)

    xs = torch.arange(grid_w, dtype=torch.float32, device=draw.device)
    ys = torch.arange(grid_h, dtype=torch.float32, device=draw.device)
    dx = (xs[None, None, :] - centre_x[:, None, None]) / half_w[:, None, None]
    dy = (ys[None, :, None] - centre_y[:, None, None]) / half_h[:, None, None]
    elliptic = dx.square() + dy.square()
    if mode == "ellipse":
        return elliptic
    return torch.maximum(dx.abs(), dy.abs()) + _RECTANGLE_TIE_BREAK * elliptic


def _blob_scores(draw: _Draw, num_masks: int, grid_h: int, grid_w: int, blob_sigma: float) -> torch.Tensor:
    """Gaussian-smoothed noise ``(N, grid_h, grid_w)``, std of the smoothing ``blob_sigma * sqrt(gh * gw)``.

    White noise lives on a lattice whose spacing is the smoothing std (smoothing erases anything finer, so
    a denser lattice would only cost time) and which overhangs the grid by 3 std on each side, so patches
    at the border are as random as those inside. The Gaussian smoothing is separable: one interpolation
    matrix per axis, ``G_y @ noise @ G_x^T``.
    """
    sigma = max(0.5, blob_sigma * math.sqrt(grid_h * grid_w))

    def gaussian_matrix(size: int) -> torch.Tensor:
        nodes = torch.arange(-3 * sigma, size - 1 + 3 * sigma + sigma / 2, sigma, device=draw.device)
        patches = torch.arange(size, dtype=torch.float32, device=draw.device)
        return torch.exp(-0.5 * ((patches[:, None] - nodes[None, :]) / sigma).square())  # (size, nodes)

    g_y, g_x = gaussian_matrix(grid_h), gaussian_matrix(grid_w)
    noise = draw.normal(num_masks, g_y.shape[1], g_x.shape[1])
    return g_y @ noise @ g_x.T


def _random_walk_scores(draw: _Draw, num_masks: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """Integer distances ``(N, grid_h, grid_w)`` from a random seed patch over 4-neighbour edges of random
    positive integer weight.

    First the exact distances along paths that run along the seed's row and then straight up or down (closed
    form); then ``_WALK_SWEEP_ROUNDS`` rounds of relaxation along rows and columns, each a min-plus prefix
    scan. The distances need not converge for the mask of the ``n`` lowest scores to be 4-connected: every
    patch but the seed got its distance as a neighbour's distance plus a positive weight, and distances only
    ever decrease, so every patch but the seed keeps a neighbour with a strictly smaller distance (a
    parent). The ``n`` lowest scores therefore hold each member's parent, and following parents reaches the
    seed. Integer weights keep "strictly smaller" exact (no rounding).
    """
    bits = draw.bits(num_masks, grid_h, grid_w)
    # weight_x[..., x] joins patches x - 1 and x of a row, weight_y[..., y, :] rows y - 1 and y; the entries
    # at index 0 join nothing and anchor the prefix sums at 0. In-place ops: see ``_sweep``.
    field = 2**_WALK_FIELD_BITS - 1
    weight_x = (bits & field).add_(_WALK_MIN_WEIGHT)
    weight_y = bits.bitwise_right_shift_(_WALK_FIELD_BITS).bitwise_and_(field).add_(_WALK_MIN_WEIGHT)
    weight_x[:, :, 0] = 0
    weight_y[:, 0, :] = 0
    prefix_x = weight_x.cumsum(dim=2, dtype=torch.int32)
    prefix_y = weight_y.cumsum(dim=1, dtype=torch.int32)

    seed = (draw.uniform(num_masks) * (grid_h * grid_w)).long().clamp(max=grid_h * grid_w - 1)
    seed_y, seed_x = seed // grid_w, seed % grid_w
    batch = torch.arange(num_masks, device=draw.device)
    seed_row = prefix_x[batch, seed_y]  # (N, grid_w)
    along_row = (seed_row - seed_row[batch, seed_x][:, None]).abs_()
    dist = (prefix_y - prefix_y[batch, seed_y][:, None, :]).abs_().add_(along_row[:, None, :])
    scratch = weight_x  # no longer needed
    for _ in range(_WALK_SWEEP_ROUNDS):
        dist, scratch = _sweep(dist, scratch, prefix_x, dim=2)
        dist, scratch = _sweep(dist, scratch, prefix_y, dim=1)
    return dist


def _sweep(
    dist: torch.Tensor, scratch: torch.Tensor, prefix: torch.Tensor, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relax ``dist`` along paths that run straight along ``dim``, both ways; returns (dist, scratch).

    With ``P`` the prefix sum of edge weights along ``dim``, reaching ``i`` from ``j <= i`` costs
    ``dist[j] + P[i] - P[j]``, so the forward pass is ``P[i] + min_{j <= i} (dist[j] - P[j])``, and the
    backward pass ``min_{j >= i} (dist[j] + P[j]) - P[i]``. Both include ``j = i``, which gives back
    ``dist[i]`` exactly in integers, so neither can raise a distance. Works in place in ``dist`` and
    ``scratch`` (allocating per step costs more than the step itself on the CPU).
    """
    dist.sub_(prefix)
    dist, scratch = _running_min_(dist, scratch, dim, reverse=False)
    dist.add_(prefix, alpha=2)  # + P to end the forward pass, + P to start the backward one
    dist, scratch = _running_min_(dist, scratch, dim, reverse=True)
    return dist.sub_(prefix), scratch


def _running_min_(x: torch.Tensor, scratch: torch.Tensor, dim: int, reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Running minimum of ``x`` along ``dim`` (from the end when ``reverse``), by doubling in log2(size) steps.

    ``x`` and ``scratch`` (same shape) take turns as input and output; returns (result, the other buffer).
    Faster here than ``torch.cummin``, whose per-element branch is slow on data whose minimum keeps
    changing, and it computes no indices.
    """
    size = x.shape[dim]
    step = 1
    while step < size:
        kept, moved = (size - step, 0) if reverse else (0, step)  # where the first `step` values stay
        scratch.narrow(dim, kept, step).copy_(x.narrow(dim, kept, step))
        torch.minimum(
            x.narrow(dim, moved, size - step),
            x.narrow(dim, step - moved, size - step),
            out=scratch.narrow(dim, moved, size - step),
        )
        x, scratch = scratch, x
        step *= 2
    return x, scratch


def _source_device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device:
    """Where random numbers are drawn: on the generator's device, else on ``device``, else on the CPU."""
    if generator is not None:
        return generator.device
    return torch.device(device) if device is not None else torch.device("cpu")


def _check_mode(mode: str) -> None:
    if mode not in MASK_MODES:
        raise ValueError(f"unknown mask mode {mode!r}; choose one of {MASK_MODES}")


def _check_ratio(ratio: float, name: str) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {ratio}")


def _check_positive(value: int, name: str) -> None:
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def _check_aspect_range(aspect_range: tuple[float, float]) -> None:
    if len(aspect_range) != 2 or not 0 < aspect_range[0] <= aspect_range[1]:
        raise ValueError(f"aspect_range must be (min, max) with 0 < min <= max, got {tuple(aspect_range)}")
