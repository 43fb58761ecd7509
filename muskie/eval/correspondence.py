"""The multi-view correspondence benchmark (brief section 4): protocol, ground truth, metrics, evaluation loop.

Protocol, per sample of ``V`` views (8 by default), view 0 is the source:

- **Scenes with depth** (held-out synthetic scenes, or any scene folder with depth): up to ``num_queries``
  (100) query pixels drawn without replacement among view 0's valid-depth pixels (seeded per sample, so
  every backbone gets the same queries). Ground-truth tracks: each query is lifted with its depth and
  camera and projected into every other view; it is visible there when it lands inside the image (nearest
  pixel), in front of the camera, on a valid-depth pixel, and is not occluded: its depth is at most that
  pixel's depth plus ``tolerance`` (0.05 world units = 5 cm in metric scenes; synthetic scenes are in
  metres). Queries visible in no other view are dropped; view 0 is never scored.
  Metrics over the visible (query, target view) pairs (with ``pool_view0`` also each query against itself in
  view 0, as the authors' evaluation does): 2D end-point error (mean, px), accuracy at 1, 2, 5, 10, 25 and 50
  px (the authors' thresholds, ~1% of their 512 px images at 5 px) and at 5% and 10% of the image diagonal;
  3D error: predicted and true target pixels lifted with the target view's depth (nearest pixel), the mean in
  cm (100 x world units) with accuracy at 1, 2, 5 and 10 cm (absolute, as the paper), and the mean in world
  units and relative to the sample's median valid depth in view 0 with accuracy at 2% and 5% of that median
  depth (the paper's 2 and 5 cm, scaled to the scene). A prediction on a pixel without valid depth has no 3D
  error: it counts as a miss at every 3D threshold and is left out of the 3D means (``3d missing`` says how
  often).
- **Scenes with cameras but no depth** (real object scenes): queries drawn among view 0's textured pixels
  (:func:`texture_mask`: grey-level standard deviation over a 7x7 window at least ``min_texture``, which
  excludes flat black backgrounds); every other view is scored by the symmetric epipolar distance of each
  match (:func:`~muskie.geometry.symmetric_epipolar_distance`, px at the evaluated resolution): median, mean
  and accuracy at 2, 5 and 10 px. A match that slides along its epipolar line scores 0: this bounds the error
  from below.

Every metric is reported pooled over all scored pairs, per view pair ``(0, t)``, and binned by how much the
views move: by ground-truth 2D displacement between the query pixel and its true target pixel (depth protocol;
bins 0-4, 4-8, 8-16, 16+ px by default) and by the relative rotation angle between the query and target
cameras (both protocols; probe3d's bins 0-30, 30-60, 60-90, 90-120, 120+ degrees). The distribution of the
displacement (and of the rotation) over the scored pairs is reported too: how much the views of the
evaluation set move, whatever the backbone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import torch
import torch.nn.functional as F

from muskie import report
from muskie.config_io import check_fields
from muskie.constants import denormalize_image
from muskie.eval.backbones.base import FeatureBackbone
from muskie.eval.correspondence_options import (
    BENCHMARKS,
    DEFAULT_READOUTS,
    DISPLACEMENT_BINS,
    READOUT_TITLES,
    READOUTS,
    ROTATION_BINS,
)
from muskie.eval.diagnostics import Diagnostics, diagnostics_table, run_diagnostics
from muskie.eval.readouts import (
    DEFAULT_TEMPERATURE,
    attention_matches,
    concatenate_normalised,
    mean_attention,
    nearest_neighbour_matches,
    readout_blocks,
)
from muskie.geometry import (
    OCCLUSION_TOLERANCE,
    lift_pixels,
    nearest_pixel,
    project_points,
    rotation_angle,
    symmetric_epipolar_distance,
    unproject_depth,
    visible_in_view,
)
from muskie.progress import progress_bar

ATTENTION_READOUTS = ("attention", "attention-all")
PIXEL_THRESHOLDS = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0)  # the authors' evaluation's
METRIC_THRESHOLDS_CM = (1.0, 2.0, 5.0, 10.0)  # the authors' evaluation's, in cm of a metric scene
DIAGONAL_FRACTIONS = (0.05, 0.10)
DEPTH_FRACTIONS = (0.02, 0.05)
EPIPOLAR_THRESHOLDS = (2.0, 5.0, 10.0)
TEXTURE_WINDOW = 7

# (key, column title) of each protocol's metrics, in table order
DEPTH_METRICS = (
    ("pairs", "pairs"),
    ("epe_mean_px", "EPE px"),
    ("acc_1px", "@1px %"),
    ("acc_2px", "@2px %"),
    ("acc_5px", "@5px %"),
    ("acc_10px", "@10px %"),
    ("acc_25px", "@25px %"),
    ("acc_50px", "@50px %"),
    ("err3d_mean_cm", "3D err cm"),
    ("acc3d_1cm", "@1cm %"),
    ("acc3d_2cm", "@2cm %"),
    ("acc3d_5cm", "@5cm %"),
    ("acc3d_10cm", "@10cm %"),
    ("acc_5pct_diag", "@5%diag %"),
    ("acc_10pct_diag", "@10%diag %"),
    ("err3d_mean", "3D err"),
    ("err3d_rel_mean", "3D err / depth"),
    ("acc3d_2pct", "@2%depth %"),
    ("acc3d_5pct", "@5%depth %"),
    ("missing3d", "3D missing %"),
)
EPIPOLAR_METRICS = (
    ("pairs", "pairs"),
    ("epi_median_px", "epi median px"),
    ("epi_mean_px", "epi mean px"),
    ("acc_2px", "@2px %"),
    ("acc_5px", "@5px %"),
    ("acc_10px", "@10px %"),
)
# the columns of the binned tables (each bin's JSON holds all of its protocol's metrics)
DEPTH_BIN_METRICS = ("pairs", "epe_mean_px", "acc_5px", "acc_10px")
EPIPOLAR_BIN_METRICS = ("pairs", "epi_median_px", "acc_2px", "acc_5px", "acc_10px")
# error key -> (what it bins, unit) of the binned reports
BINNED = {"displacement": ("ground-truth displacement", "px"), "rotation_deg": ("relative rotation", "deg")}


# ---------------------------------------------------------------- queries and ground truth


def sample_queries(candidates: torch.Tensor, num_queries: int, generator: torch.Generator) -> torch.Tensor:
    """Up to ``num_queries`` distinct pixels drawn uniformly among ``candidates (H, W)`` bool (all of them
    when fewer), as float ``(N, 2)`` pixel centres ``(u, v)`` in drawing order."""
    flat = torch.nonzero(candidates.flatten()).flatten()
    picks = flat[torch.randperm(flat.numel(), generator=generator)[:num_queries]]
    width = candidates.shape[-1]
    return torch.stack([picks % width, picks // width], dim=-1).float()


def texture_mask(image: torch.Tensor, min_texture: float = 0.03, window: int = TEXTURE_WINDOW) -> torch.Tensor:
    """Pixels ``(H, W)`` bool whose grey level (mean of RGB in [0, 1]) has a standard deviation of at least
    ``min_texture`` over the ``window x window`` neighbourhood (zero-padded borders count as dark): the
    query candidates of scenes without depth. ``image``: ``(3, H, W)`` in [-1, 1]."""
    grey = denormalize_image(image.float()).clamp(0, 1).mean(0)[None, None]
    mean = F.avg_pool2d(grey, window, stride=1, padding=window // 2, count_include_pad=True)
    mean_sq = F.avg_pool2d(grey**2, window, stride=1, padding=window // 2, count_include_pad=True)
    return (mean_sq - mean**2).clamp(min=0).sqrt()[0, 0] >= min_texture


@dataclass
class Tracks:
    """Ground-truth tracks of ``N`` queries of view 0 through ``V`` views.

    Attributes:
        target_uv: ``(V, N, 2)`` float pixel coordinates of each query's projection (row 0: the queries).
        visible: ``(V, N)`` bool, True where the point is seen (inside, in front, not occluded); row 0 is
            all False because view 0 is not scored.
    """

    target_uv: torch.Tensor
    visible: torch.Tensor


def ground_truth_tracks(
    queries: torch.Tensor,
    depth: torch.Tensor,
    valid: torch.Tensor,
    intrinsics: torch.Tensor,
    cam_to_world: torch.Tensor,
    tolerance: float = OCCLUSION_TOLERANCE,
) -> Tracks:
    """Tracks of ``queries (N, 2)`` (integer pixel centres of view 0 with valid depth) through all views.

    Args:
        depth: ``(V, H, W)`` z-depth in world units; valid: ``(V, H, W)`` bool.
        intrinsics: ``(V, 3, 3)`` pixels, OpenCV; cam_to_world: ``(V, 4, 4)`` OpenCV axes.
        tolerance: occlusion tolerance in world units.
    """
    num_views, height, width = depth.shape
    dtype = torch.float64
    index, inside = nearest_pixel(queries, height, width)
    if not bool(inside.all()) or not bool(valid[0].flatten()[index].all()):
        raise ValueError("queries must be pixels of view 0 with valid depth")
    points = unproject_depth(depth[0].to(dtype), intrinsics[0].to(dtype), cam_to_world[0].to(dtype))
    points = points.reshape(-1, 3)[index]  # (N, 3)
    uv, z = project_points(points[None], intrinsics.to(dtype), cam_to_world.to(dtype))  # (V, N, 2), (V, N)
    visible = visible_in_view(uv, z, depth.to(dtype), valid, tolerance)
    visible[0] = False
    uv[0] = queries.to(dtype)
    return Tracks(target_uv=uv.float(), visible=visible)


# ---------------------------------------------------------------- scoring and metrics


def score_depth_matches(
    predicted: torch.Tensor,
    tracks: Tracks,
    depth: torch.Tensor,
    valid: torch.Tensor,
    intrinsics: torch.Tensor,
    cam_to_world: torch.Tensor,
    pool_view0: bool = False,
) -> dict[str, torch.Tensor]:
    """Errors of the visible (query, target view) pairs of one sample, each ``(M,)`` float64:
    ``view`` (target index), ``error_2d`` (px), ``error_3d`` (world units, NaN where the predicted pixel
    has no valid depth), ``depth_scale`` (median valid depth of view 0), ``diagonal`` (px),
    ``displacement`` (px, ground truth: from the query pixel to its true target pixel) and ``rotation_deg``
    (relative rotation angle between view 0's and the target's camera, degrees).

    ``predicted``: ``(V, N, 2)`` predicted pixels (row 0: the queries); the rest as in
    :func:`ground_truth_tracks`. ``pool_view0``: also score every query in view 0 itself, as the authors'
    evaluation does: the prediction there is the query, so each such pair has zero error and inflates the
    accuracies.
    """
    num_views, height, width = depth.shape
    scale = depth[0][valid[0]].double().median()
    rotations = pair_rotations(cam_to_world)
    views, errors_2d, errors_3d, displacements = [], [], [], []
    for t in range(0 if pool_view0 else 1, num_views):
        seen = torch.ones_like(tracks.visible[0]) if t == 0 else tracks.visible[t]
        if not bool(seen.any()):
            continue
        pred, true = predicted[t][seen], tracks.target_uv[t][seen]
        errors_2d.append((pred.double() - true.double()).norm(dim=-1))
        displacements.append((true.double() - tracks.target_uv[0][seen].double()).norm(dim=-1))
        camera = (depth[t].double(), valid[t], intrinsics[t].double(), cam_to_world[t].double())
        lifted_pred, ok = lift_pixels(pred.double(), *camera)
        lifted_true, _ = lift_pixels(true.double(), *camera)
        error = (lifted_pred - lifted_true).norm(dim=-1)
        errors_3d.append(torch.where(ok, error, torch.full_like(error, math.nan)))
        views.append(torch.full((int(seen.sum()),), float(t), dtype=torch.float64))
    if not views:
        keys = ("view", "error_2d", "error_3d", "depth_scale", "diagonal", "displacement", "rotation_deg")
        return {k: torch.zeros(0, dtype=torch.float64) for k in keys}
    view = torch.cat(views)
    return {
        "view": view,
        "error_2d": torch.cat(errors_2d),
        "error_3d": torch.cat(errors_3d),
        "depth_scale": torch.full_like(view, float(scale)),
        "diagonal": torch.full_like(view, math.hypot(height, width)),
        "displacement": torch.cat(displacements),
        "rotation_deg": rotations[view.long()],
    }


def score_epipolar_matches(
    predicted: torch.Tensor, intrinsics: torch.Tensor, cam_to_world: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``view``, ``epipolar`` (px) and ``rotation_deg`` (relative rotation of view 0's and the target's
    camera, degrees) ``(M,)`` float64 of every (query, target view) pair of one sample; ``predicted (V, N, 2)``
    with the queries in row 0."""
    views, distances = [], []
    for t in range(1, predicted.shape[0]):
        distances.append(
            symmetric_epipolar_distance(
                predicted[0], predicted[t], intrinsics[0], cam_to_world[0], intrinsics[t], cam_to_world[t]
            )
        )
        views.append(torch.full((predicted.shape[1],), float(t), dtype=torch.float64))
    view = torch.cat(views)
    return {"view": view, "epipolar": torch.cat(distances), "rotation_deg": pair_rotations(cam_to_world)[view.long()]}


def pair_rotations(cam_to_world: torch.Tensor) -> torch.Tensor:
    """``(V,)`` float64: the relative rotation angle in degrees, in [0, 180], between view 0's camera and each
    view's (entry 0 is 0), from ``cam_to_world (V, 4, 4)``."""
    rotations = cam_to_world[:, :3, :3].double()
    return torch.rad2deg(rotation_angle(rotations[:1], rotations))


def _percent(hits: torch.Tensor) -> float:
    return 100.0 * float(hits.double().mean())


def depth_metrics(errors: dict[str, torch.Tensor]) -> dict[str, float]:
    """The depth protocol's metrics (keys of ``DEPTH_METRICS``; accuracies in %) of pooled errors as
    returned by :func:`score_depth_matches`. NaN when there is nothing to score."""
    e2d, e3d = errors["error_2d"], errors["error_3d"]
    if e2d.numel() == 0:
        return {key: (0 if key == "pairs" else math.nan) for key, _ in DEPTH_METRICS}
    relative = e3d / errors["depth_scale"]
    found = ~torch.isnan(e3d)
    out = {"pairs": int(e2d.numel()), "epe_mean_px": float(e2d.mean())}
    for threshold in PIXEL_THRESHOLDS:
        out[f"acc_{threshold:g}px"] = _percent(e2d <= threshold)
    for fraction in DIAGONAL_FRACTIONS:
        out[f"acc_{100 * fraction:g}pct_diag"] = _percent(e2d <= fraction * errors["diagonal"])
    out["err3d_mean"] = float(e3d[found].mean()) if bool(found.any()) else math.nan
    out["err3d_mean_cm"] = 100.0 * out["err3d_mean"]
    for threshold in METRIC_THRESHOLDS_CM:  # NaN compares False: a missing 3D error is a miss
        out[f"acc3d_{threshold:g}cm"] = _percent(e3d <= threshold / 100.0)
    out["err3d_rel_mean"] = float(relative[found].mean()) if bool(found.any()) else math.nan
    for fraction in DEPTH_FRACTIONS:  # NaN compares False: a missing 3D error is a miss
        out[f"acc3d_{100 * fraction:g}pct"] = _percent(relative <= fraction)
    out["missing3d"] = _percent(~found)
    return out


def epipolar_metrics(errors: dict[str, torch.Tensor]) -> dict[str, float]:
    """The epipolar protocol's metrics (keys of ``EPIPOLAR_METRICS``; accuracies in %)."""
    distance = errors["epipolar"]
    if distance.numel() == 0:
        return {key: (0 if key == "pairs" else math.nan) for key, _ in EPIPOLAR_METRICS}
    out = {
        "pairs": int(distance.numel()),
        "epi_median_px": float(distance.median()),
        "epi_mean_px": float(distance.mean()),
    }
    for threshold in EPIPOLAR_THRESHOLDS:
        out[f"acc_{threshold:g}px"] = _percent(distance <= threshold)
    return out


# ---------------------------------------------------------------- bins: how much the views move


def check_bins(edges: Iterable[float], name: str = "bins") -> tuple[float, ...]:
    """``edges`` as a tuple of floats after checking that they are increasing lower bin edges from 0 (the last
    bin is open-ended); ValueError naming ``name`` otherwise."""
    edges = tuple(float(e) for e in edges)
    if not edges or edges[0] != 0 or any(b <= a for a, b in pairwise(edges)) or not all(map(math.isfinite, edges)):
        raise ValueError(f"{name} must be increasing finite lower bin edges starting at 0, got {edges}")
    return edges


def bin_labels(edges: Sequence[float]) -> list[str]:
    """``["0-4", "4-8", "8-16", "16+"]`` for edges ``(0, 4, 8, 16)``: bin ``i`` holds ``edges[i] <= x <
    edges[i + 1]``, the last one everything from its edge up."""
    labels = [f"{lo:g}-{hi:g}" for lo, hi in pairwise(edges)]
    return labels + [f"{edges[-1]:g}+"]


def bin_index(values: torch.Tensor, edges: Sequence[float]) -> torch.Tensor:
    """``(M,)`` long: the bin of each of ``values (M,)`` (see :func:`bin_labels`)."""
    boundaries = torch.tensor(list(edges[1:]), dtype=torch.float64)
    return torch.bucketize(values.double(), boundaries, right=True)


def binned_metrics(
    errors: dict[str, torch.Tensor], key: str, edges: Sequence[float], protocol: str = "depth"
) -> dict[str, dict[str, float]]:
    """Bin label -> the protocol's metrics (:func:`depth_metrics` or :func:`epipolar_metrics`) of the pairs of
    pooled ``errors`` whose ``errors[key]`` (``displacement`` px or ``rotation_deg``) falls in that bin; every
    bin is present (``pairs`` 0 and NaN metrics when empty)."""
    summarize = depth_metrics if protocol == "depth" else epipolar_metrics
    index = bin_index(errors[key], edges)
    return {
        label: summarize({k: v[index == i] for k, v in errors.items()}) for i, label in enumerate(bin_labels(edges))
    }


def value_distribution(values: torch.Tensor, edges: Sequence[float]) -> dict:
    """How ``values (M,)`` spread: ``pairs``, ``median`` and ``p90`` (linearly interpolated quantiles, NaN
    when empty) and ``counts`` (bin label -> count)."""
    values = values.double()
    index = bin_index(values, edges)
    empty = values.numel() == 0
    return {
        "pairs": int(values.numel()),
        "median": math.nan if empty else float(torch.quantile(values, 0.5)),
        "p90": math.nan if empty else float(torch.quantile(values, 0.9)),
        "counts": {label: int((index == i).sum()) for i, label in enumerate(bin_labels(edges))},
    }


# ---------------------------------------------------------------- evaluation loop


@dataclass(frozen=True)
class CorrespondenceConfig:
    """Settings of :func:`evaluate_correspondence`.

    Attributes:
        num_queries: query pixels drawn per sample in view 0.
        readouts: any of :data:`READOUTS` (``READOUT_TITLES`` says what each reads); the attention readouts
            are skipped (and reported so) for backbones without cross-view attention.
        block: which block's features / attention ``nn`` and ``attention`` read (negative counts from the
            end; default the last).
        layers: the blocks whose features ``nn-multi`` concatenates; empty: probe3d's choice
            (:func:`~muskie.eval.readouts.default_multi_layers`).
        pool_view0: also score view 0 against itself (the authors' evaluation does; every such pair is a
            zero error, so accuracies rise). Off by default.
        nn_metric: ``l2`` (the paper's) or ``cosine`` for the nearest-neighbour readout.
        temperature: soft-argmax temperature of the attention readout.
        tolerance: occlusion tolerance in world units (depth protocol).
        min_texture: query candidate threshold of :func:`texture_mask` (epipolar protocol).
        seed: seeds the queries; sample ``i`` uses ``(seed, i)``, so every backbone gets the same queries.
        displacement_bins: lower edges (px, from 0, the last bin open-ended) of the ground-truth displacement
            bins (depth protocol).
        rotation_bins: lower edges (degrees, from 0) of the relative camera rotation bins.
    """

    num_queries: int = 100
    readouts: tuple[str, ...] = DEFAULT_READOUTS
    block: int = -1
    layers: tuple[int, ...] = ()
    pool_view0: bool = False
    nn_metric: str = "l2"
    temperature: float = DEFAULT_TEMPERATURE
    tolerance: float = OCCLUSION_TOLERANCE
    min_texture: float = 0.03
    seed: int = 0
    displacement_bins: tuple[float, ...] = DISPLACEMENT_BINS
    rotation_bins: tuple[float, ...] = ROTATION_BINS

    def readout_blocks(self, readout: str, depth: int) -> list[int]:
        """The blocks (non-negative) ``readout`` reads for a ``depth``-block backbone
        (:func:`~muskie.eval.readouts.readout_blocks`)."""
        return readout_blocks(readout, depth, self.block, self.layers)

    def __post_init__(self):
        check_fields(self, "CorrespondenceConfig")  # finite numbers: a NaN temperature scores nothing, silently
        object.__setattr__(self, "displacement_bins", check_bins(self.displacement_bins, "displacement_bins"))
        object.__setattr__(self, "rotation_bins", check_bins(self.rotation_bins, "rotation_bins"))
        object.__setattr__(self, "readouts", tuple(self.readouts))
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        unknown = [r for r in self.readouts if r not in READOUTS]
        if unknown or not self.readouts:
            raise ValueError(f"readouts must be a non-empty subset of {READOUTS}, got {self.readouts}")
        if self.num_queries < 1 or self.tolerance < 0 or self.temperature <= 0:
            raise ValueError("num_queries must be >= 1, tolerance >= 0 and temperature > 0")


@dataclass
class Example:
    """One sample's matches, kept for figures: ``images (V, 3, H, W)`` in [-1, 1]; ``predicted``: readout ->
    ``(V, N, 2)`` (row 0: the queries); ``target_uv (V, N, 2)`` and ``visible (V, N)`` for the depth
    protocol, else None."""

    images: torch.Tensor
    predicted: dict[str, torch.Tensor]
    target_uv: torch.Tensor | None = None
    visible: torch.Tensor | None = None


@dataclass
class CorrespondenceResult:
    """Everything :func:`evaluate_correspondence` measured for one backbone.

    Attributes:
        backbone: the backbone's name; protocol: ``depth`` or ``epipolar``; samples: samples scored.
        errors: readout -> pooled per-pair errors (see :func:`score_depth_matches`,
            :func:`score_epipolar_matches`).
        skipped: readout -> why it was not run.
        readout_blocks: readout -> the blocks it read.
        pool_view0: view 0 was scored against itself too (:attr:`CorrespondenceConfig.pool_view0`).
        examples: samples kept for figures.
        displacement_bins, rotation_bins: lower bin edges of :meth:`binned` and :meth:`distribution`.
        diagnostics: the same-cell and shifted-copy diagnostics (:mod:`muskie.eval.diagnostics`), when run.
    """

    backbone: str
    protocol: str
    samples: int = 0
    errors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    readout_blocks: dict[str, list[int]] = field(default_factory=dict)
    pool_view0: bool = False
    examples: list[Example] = field(default_factory=list)
    displacement_bins: tuple[float, ...] = DISPLACEMENT_BINS
    rotation_bins: tuple[float, ...] = ROTATION_BINS
    diagnostics: Diagnostics | None = None

    def metrics(self, readout: str) -> dict[str, float]:
        """Pooled metrics of a readout."""
        summarize = depth_metrics if self.protocol == "depth" else epipolar_metrics
        return summarize(self.errors[readout])

    def per_view(self, readout: str) -> dict[int, dict[str, float]]:
        """Metrics of each view pair ``(0, t)``, keyed by ``t``."""
        summarize = depth_metrics if self.protocol == "depth" else epipolar_metrics
        errors = self.errors[readout]
        return {
            int(t): summarize({k: v[errors["view"] == t] for k, v in errors.items()})
            for t in errors["view"].unique().tolist()
        }

    def bins(self, key: str) -> tuple[float, ...]:
        """The lower bin edges of ``displacement`` or ``rotation_deg``."""
        return self.displacement_bins if key == "displacement" else self.rotation_bins

    def binned_keys(self) -> list[str]:
        """The quantities the pairs can be binned by (keys of ``BINNED``): ``displacement`` needs ground-truth
        tracks (depth protocol), ``rotation_deg`` cameras."""
        first = next(iter(self.errors.values()), {})
        return [key for key in BINNED if key in first]

    def binned(self, readout: str, key: str) -> dict[str, dict[str, float]]:
        """Bin label -> metrics of a readout's pairs binned by ``key`` (``displacement`` or ``rotation_deg``)."""
        return binned_metrics(self.errors[readout], key, self.bins(key), self.protocol)

    def distribution(self, key: str) -> dict:
        """How ``key`` spreads over the scored pairs (:func:`value_distribution`); every readout scores the
        same pairs, so it describes the evaluation set, not the backbone."""
        return value_distribution(next(iter(self.errors.values()))[key], self.bins(key))

    def to_dict(self) -> dict:
        """JSON-ready summary: pooled, per-view and binned metrics of every readout, the distributions of the
        binned quantities, and the diagnostics when run (NaN -> None)."""

        def clean(values):
            return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}

        keys = self.binned_keys()
        out = {
            "backbone": self.backbone,
            "protocol": self.protocol,
            "samples": self.samples,
            "skipped": self.skipped,
            "pool_view0": self.pool_view0,
            "readout_settings": {
                r: {"reads": READOUT_TITLES[r], "blocks": blocks} for r, blocks in self.readout_blocks.items()
            },
            "readouts": {
                r: {
                    "pooled": clean(self.metrics(r)),
                    "per_view": {str(t): clean(m) for t, m in self.per_view(r).items()},
                    "binned": {key: {label: clean(m) for label, m in self.binned(r, key).items()} for key in keys},
                }
                for r in self.errors
            },
            "bins": {key: list(self.bins(key)) for key in BINNED},
            "distribution": {key: clean(self.distribution(key)) for key in keys},
        }
        if self.diagnostics is not None:
            out["diagnostics"] = self.diagnostics.to_dict()
        return out


def _protocol(sample: dict) -> str:
    if "depth" in sample and "valid" in sample and "cam_to_world" in sample:
        return "depth"
    if "cam_to_world" in sample and "intrinsics" in sample:
        return "epipolar"
    raise ValueError(
        f"sample of scene {sample.get('scene', '?')!r} has neither depth nor cameras: "
        "the correspondence benchmark needs one of them"
    )


def _predict(
    backbone: FeatureBackbone,
    images: torch.Tensor,
    queries: torch.Tensor,
    readouts: Sequence[str],
    config: CorrespondenceConfig,
) -> dict[str, torch.Tensor]:
    """readout -> ``(V, N, 2)`` predicted pixels (row 0: the queries) for one sample ``images (V, 3, H, W)``,
    every readout's blocks read in one :meth:`~muskie.eval.backbones.FeatureBackbone.read_blocks` call, of the
    attention only the part that involves view 0."""
    height, width = images.shape[-2:]
    blocks = {r: config.readout_blocks(r, backbone.depth) for r in readouts}
    feature_blocks = {i for r in readouts if r not in ATTENTION_READOUTS for i in blocks[r]}
    attention_blocks = {i for r in readouts if r in ATTENTION_READOUTS for i in blocks[r]}
    if attention_blocks:  # the attention readouts' grid is the features' grid of the same block
        feature_blocks.add(min(attention_blocks))
    out = backbone.read_blocks(images[None], sorted(feature_blocks), sorted(attention_blocks), source_view=0)
    predicted = {}
    for readout in readouts:
        if readout in ATTENTION_READOUTS:
            # view 0 -> each target, and each target -> view 0: (T, L, L) per block, averaged over the blocks
            maps = [out.source_attention[i] for i in blocks[readout]]
            source_to_target = mean_attention([m.outgoing[0].transpose(0, 1)[1:] for m in maps])
            target_to_source = mean_attention([m.incoming[0].permute(1, 2, 0)[1:] for m in maps])
            grid = tuple(out.features[min(attention_blocks)].shape[2:4])
            matches = attention_matches(
                source_to_target, target_to_source, grid, grid, queries, (height, width), config.temperature
            )
        else:
            features = (
                concatenate_normalised([out.features[i][0] for i in blocks[readout]])
                if readout == "nn-multi"
                else out.features[blocks[readout][0]][0]
            )  # (V, h, w, C)
            matches = nearest_neighbour_matches(features[0], features[1:], queries, (height, width), config.nn_metric)
        predicted[readout] = torch.cat([queries[None], matches.float()], dim=0)
    return predicted


@torch.no_grad()
def evaluate_correspondence(
    backbone: FeatureBackbone,
    samples: Iterable[dict],
    config: CorrespondenceConfig = CorrespondenceConfig(),
    keep_examples: int = 1,
) -> CorrespondenceResult:
    """Run the benchmark (module docstring) for one backbone.

    Args:
        backbone: any :class:`muskie.eval.backbones.FeatureBackbone`.
        samples: multi-view sample dicts (``docs/layout.md``), unbatched: ``images (V, 3, H, W)`` in [-1, 1]
            with ``V >= 2`` and cameras, plus ``depth``/``valid`` for the depth protocol. All samples must
            follow the same protocol.
        keep_examples: how many samples' matches to keep for figures.
    """
    readouts = [r for r in config.readouts if r not in ATTENTION_READOUTS or backbone.multi_view]
    result = None
    for index, sample in enumerate(samples):
        protocol = _protocol(sample)
        if result is None:
            result = CorrespondenceResult(
                backbone=backbone.name,
                protocol=protocol,
                displacement_bins=config.displacement_bins,
                rotation_bins=config.rotation_bins,
                readout_blocks={r: config.readout_blocks(r, backbone.depth) for r in readouts},
                pool_view0=config.pool_view0 and protocol == "depth",
            )
            for readout in config.readouts:
                if readout not in readouts:
                    result.skipped[readout] = "no cross-view attention (frame-wise backbone)"
        elif protocol != result.protocol:
            raise ValueError(
                f"sample {index} ({sample.get('scene', '?')}) needs the {protocol} protocol, "
                f"earlier samples the {result.protocol} protocol: evaluate them separately"
            )
        images = sample["images"]
        if images.dim() != 4 or images.shape[0] < 2:
            raise ValueError(f"sample {index}: images must be (V, 3, H, W) with V >= 2, got {tuple(images.shape)}")
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + index)
        tracks = None
        if protocol == "depth":
            queries = sample_queries(sample["valid"][0], config.num_queries, generator)
            tracks = ground_truth_tracks(
                queries,
                sample["depth"],
                sample["valid"],
                sample["intrinsics"],
                sample["cam_to_world"],
                config.tolerance,
            )
            seen = tracks.visible.any(dim=0)
            queries, tracks = queries[seen], Tracks(tracks.target_uv[:, seen], tracks.visible[:, seen])
        else:
            queries = sample_queries(texture_mask(images[0], config.min_texture), config.num_queries, generator)
        if queries.shape[0] == 0:
            continue
        predicted = _predict(backbone, images, queries, readouts, config)
        for readout, matches in predicted.items():
            if protocol == "depth":
                errors = score_depth_matches(
                    matches,
                    tracks,
                    sample["depth"],
                    sample["valid"],
                    sample["intrinsics"],
                    sample["cam_to_world"],
                    config.pool_view0,
                )
            else:
                errors = score_epipolar_matches(matches, sample["intrinsics"], sample["cam_to_world"])
            pooled = result.errors.setdefault(readout, {k: torch.zeros(0, dtype=torch.float64) for k in errors})
            for key, values in errors.items():
                pooled[key] = torch.cat([pooled[key], values])
        result.samples += 1
        if len(result.examples) < keep_examples:
            result.examples.append(
                Example(
                    images=images,
                    predicted=predicted,
                    target_uv=None if tracks is None else tracks.target_uv,
                    visible=None if tracks is None else tracks.visible,
                )
            )
    if result is None:
        raise ValueError("no samples to evaluate")
    return result


# ---------------------------------------------------------------- data and reports


def load_samples(
    scenes: str,
    num_samples: int,
    num_views: int = 8,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    synthetic_path: str = "rig",
    synthetic_mix: Sequence[dict] = (),
    synthetic_split: str = "test",
    progress: bool = False,
) -> list[dict]:
    """The benchmark's samples: ``scenes`` is ``synthetic`` (the held-out ``synthetic_split``, ``test`` to
    report or ``val`` to choose settings; camera path ``synthetic_path``, or the mixture ``synthetic_mix``
    of :func:`muskie.data.datasets.open_view_dataset`) or anything :func:`muskie.data.sources.load_scenes`
    reads; samples as :func:`muskie.data.datasets.evaluation_requests` draws them; views are full frames
    (largest crop of the output's aspect ratio) resized to ``size (H, W)``. ``progress`` shows a bar over
    the samples loaded (``muskie.progress``)."""
    from muskie.data.datasets import evaluation_requests, open_view_dataset

    dataset = open_view_dataset(
        scenes,
        split=synthetic_split,
        synthetic_path=synthetic_path,
        crop_scale=(1.0, 1.0),
        skip_bad=False,
        synthetic_mix=list(synthetic_mix),
    )
    requests = evaluation_requests(dataset, num_samples, num_views, size, seed)
    return [dataset[request] for request in _loading_bar(requests, progress)]


def _loading_bar(items: Sequence, progress: bool):
    """The bar over the samples being loaded (``muskie.progress``)."""
    return progress_bar(items, desc="loading samples", unit="sample", enabled=progress)


def benchmark_samples(
    benchmark: str,
    root,
    num_views: int = 8,
    size: tuple[int, int] = (512, 512),
    num_samples: int | None = None,
    progress: bool = False,
) -> list[dict]:
    """The samples of a paper benchmark (:data:`BENCHMARKS`) under ``root``, in the authors' order, views
    resized to ``size (H, W)``; the first ``num_samples`` (None: all); ``progress`` shows a bar over the
    samples loaded (``muskie.progress``).

    ``navi``: :func:`muskie.data.formats.navi.evaluation_clusters` with :func:`muskie.data.selection.load_views`
    (object crop); ``scannet``: the scenes of the ``scannet`` dataset format in order, each
    :func:`muskie.data.selection.scannet_window` (scenes without one are left out).
    """
    from pathlib import Path

    from muskie.data.formats import read_dataset
    from muskie.data.formats.navi import CLUSTER_STRIDE, evaluation_clusters
    from muskie.data.selection import load_views, scannet_window

    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {', '.join(BENCHMARKS)}")
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder (the {benchmark} root)")
    if benchmark == "navi":
        chosen = [(scene, indices, True) for scene, indices in evaluation_clusters(root, num_views, CLUSTER_STRIDE)]
    else:
        chosen = []
        for scene in read_dataset(root, "scannet"):
            window = scannet_window(scene.frames, num_views)
            if window is not None:
                chosen.append((scene, window, False))
    chosen = chosen[:num_samples]
    if not chosen:
        raise ValueError(f"{root}: the {benchmark} selection found no sample of {num_views} views")
    chosen = _loading_bar(chosen, progress)
    return [load_views(scene, indices, size, object_crop=crop) for scene, indices, crop in chosen]


def select_samples(
    scenes: str,
    num_samples: int | None,
    num_views: int,
    size: tuple[int, int],
    seed: int = 0,
    synthetic_path: str = "rig",
    synthetic_mix: Sequence[dict] = (),
    synthetic_split: str = "test",
    benchmark: str | None = None,
    progress: bool = False,
) -> tuple[list[dict], str]:
    """The samples of a comparison and a sentence saying how they were chosen: :func:`load_samples`
    (``num_samples`` None: 32) or, for a ``benchmark``, :func:`benchmark_samples` (None: all); ``progress``
    shows a bar over the samples loaded (``muskie.progress``)."""
    if num_views < 2 or (num_samples is not None and num_samples < 1):
        raise ValueError(f"need at least 2 views and 1 sample, got {num_views} views and {num_samples} samples")
    if benchmark is not None:
        return benchmark_samples(benchmark, scenes, num_views, size, num_samples, progress), BENCHMARKS[benchmark]
    samples = load_samples(
        scenes,
        32 if num_samples is None else num_samples,
        num_views,
        size,
        seed,
        synthetic_path,
        synthetic_mix,
        synthetic_split,
        progress,
    )
    return samples, (
        f"{scenes}: sample i = scene i mod #scenes, views drawn with seed {seed} + i "
        "(muskie.data.datasets.evaluation_requests), full frames"
    )


def settings_header(settings: dict) -> str:
    """One markdown paragraph naming what a comparison pins (resolution, views, queries, readouts, pooling,
    sample selection): what a number must share with a published one to be compared with it."""
    config = settings["config"]
    height, width = settings["size"]
    readouts = ", ".join(f"{r} ({READOUT_TITLES[r]})" for r in config["readouts"])
    return (
        f"Settings: {settings['selection']}; {height}x{width} px, {settings['views']} views, "
        f"{settings['samples']} samples, up to {config['num_queries']} queries per sample; readouts: {readouts}; "
        f"block {config['block']}, multi-layer blocks {config['layers'] or 'probe3d default'}, nearest-neighbour "
        f"metric {config['nn_metric']}, temperature {config['temperature']:g}; view 0 pooled in: "
        f"{'yes (inflates accuracy)' if config['pool_view0'] else 'no'}; backbones in "
        f"{settings.get('precision', 'fp32')}.\n"
    )


def _distribution_table(results: Sequence[CorrespondenceResult], key: str) -> str:
    """Markdown: how ``key`` spreads over the scored pairs, one row per evaluation set (backbones scored on
    the same pairs share a row)."""
    groups: list[tuple[list[str], CorrespondenceResult]] = []
    for result in results:
        values = next(iter(result.errors.values()))[key]
        for names, first in groups:
            other = next(iter(first.errors.values()))[key]
            if first.bins(key) == result.bins(key) and torch.equal(values, other):
                names.append(result.backbone)
                break
        else:
            groups.append(([result.backbone], result))
    labels = bin_labels(groups[0][1].bins(key))
    rows = []
    for names, first in groups:
        spread = first.distribution(key)
        counts = spread["counts"] if list(spread["counts"]) == labels else {}
        rows.append(
            [
                "all backbones" if len(groups) == 1 else ", ".join(names),
                spread["pairs"],
                spread["median"],
                spread["p90"],
                *(counts.get(label) for label in labels),
            ]
        )
    what, unit = BINNED[key]
    header = ["scored by", "pairs", f"median {unit}", f"p90 {unit}", *(f"{label} {unit}" for label in labels)]
    return (
        f"How much the views move: {what} of the scored pairs (count per bin):\n\n"
        f"{report.markdown_table(header, rows)}\n"
    )


def _binned_table(
    results: Sequence[CorrespondenceResult], key: str, columns: Sequence[str], titles: dict[str, str]
) -> str:
    """Markdown: every backbone's and readout's metrics per bin of ``key``, rows grouped by bin; bins without
    pairs are left out (the distribution table shows them)."""
    binned = {(r.backbone, readout): r.binned(readout, key) for r in results for readout in r.errors}
    labels = list(dict.fromkeys(label for per_bin in binned.values() for label in per_bin))
    rows = [
        [label, backbone, readout, *(per_bin[label][c] for c in columns)]
        for label in labels
        for (backbone, readout), per_bin in binned.items()
        if label in per_bin and per_bin[label]["pairs"] > 0
    ]
    what, unit = BINNED[key]
    header = [f"{what.split()[-1]} {unit}", "backbone", "readout", *(titles[c] for c in columns)]
    return f"By {what} ({unit}; empty bins left out):\n\n{report.markdown_table(header, rows)}\n"


def markdown_table(results: Sequence[CorrespondenceResult]) -> str:
    """Pooled metrics of every backbone and readout as a markdown table (one per protocol present), followed
    by a per-view-pair table of the main metric (mean EPE for depth, median epipolar distance otherwise), the
    distribution of ground-truth displacement and relative rotation over the scored pairs, the metrics binned
    by them, and the diagnostics of the results that carry them (:func:`muskie.eval.diagnostics.diagnostics_table`)."""
    sections = []
    for protocol, columns, main, bin_columns in (
        ("depth", DEPTH_METRICS, "epe_mean_px", DEPTH_BIN_METRICS),
        ("epipolar", EPIPOLAR_METRICS, "epi_median_px", EPIPOLAR_BIN_METRICS),
    ):
        chosen = [r for r in results if r.protocol == protocol]
        if not chosen:
            continue
        rows = []
        for result in chosen:
            for readout in READOUTS:
                if readout in result.errors:
                    metrics = result.metrics(readout)
                    rows.append([result.backbone, readout, *(metrics[key] for key, _ in columns)])
                elif readout in result.skipped:
                    rows.append([result.backbone, readout, *(None for _ in columns)])
        pooled = report.markdown_table(["backbone", "readout", *(title for _, title in columns)], rows)
        views = sorted({t for r in chosen for readout in r.errors for t in r.per_view(readout)})
        per_view_rows = []
        for result in chosen:
            for readout in result.errors:
                per_view = result.per_view(readout)
                per_view_rows.append(
                    [result.backbone, readout, *(per_view[t][main] if t in per_view else None for t in views)]
                )
        per_view_table = report.markdown_table(["backbone", "readout", *(f"t={t}" for t in views)], per_view_rows)
        sections.append(f"{pooled}\n\n{dict(columns)[main]} per view pair (0, t):\n\n{per_view_table}\n")
        scored = [r for r in chosen if r.errors]
        for key in BINNED:
            with_key = [r for r in scored if key in r.binned_keys()]
            if with_key:
                sections.append(_distribution_table(with_key, key))
                sections.append(_binned_table(with_key, key, bin_columns, dict(columns)))
    diagnosed = [r.diagnostics for r in results if r.diagnostics is not None]
    if diagnosed:
        sections.append(diagnostics_table(diagnosed))
    return "\n".join(sections)


def _slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "backbone"


def run_benchmark(
    backbones: Sequence[str | FeatureBackbone],
    scenes: str,
    out_dir,
    num_samples: int | None = None,
    num_views: int = 8,
    size: tuple[int, int] = (64, 64),
    config: CorrespondenceConfig = CorrespondenceConfig(),
    synthetic_path: str = "rig",
    seed: int = 0,
    diagnostics: bool = False,
    synthetic_mix: Sequence[dict] = (),
    synthetic_split: str = "test",
    benchmark: str | None = None,
    progress: bool = False,
    device: str = "cpu",
    precision: str = "fp32",
) -> list[CorrespondenceResult]:
    """The whole comparison: every backbone on the same samples and queries; writes ``out_dir/results.md``
    (:func:`markdown_table`), ``out_dir/results.json`` and ``out_dir/tracks_<backbone>.png`` (first sample).

    Args:
        backbones: spec strings (:func:`muskie.eval.backbones.build_backbone`) or built backbones.
        scenes, num_views, size, synthetic_path, seed, synthetic_mix, synthetic_split: see
            :func:`load_samples`.
        num_samples: samples to score; None: 32 (:func:`load_samples`), or every sample of a ``benchmark``.
        config: protocol settings.
        benchmark: read ``scenes`` as this paper benchmark (:func:`benchmark_samples`: the authors' sample
            selection, all of its samples unless ``num_samples`` is given) instead of :func:`load_samples`.
        diagnostics: also run :func:`muskie.eval.diagnostics.run_diagnostics` on the same samples (the
            same-cell share in every block for multi-view backbones; the shifted-copy test of view 0 of every
            sample at ``config.block``, for every backbone) and put it in the results.
        progress: show bars over the samples loaded and over each backbone's samples (``muskie.progress``).
        device: where the backbones compute (``muskie.devices.resolve_device``: ``auto``, ``cpu``, ``cuda``,
            ...); matches are scored on the CPU.
        precision: what the backbones compute in: ``fp32``, ``bf16`` (autocast; the attention maps stay
            float32) or ``auto`` (bf16 where ``device`` has it natively, :func:`muskie.devices.resolve_precision`);
            the results record the one used. Matches are scored in float32 either way.
    Returns:
        one :class:`CorrespondenceResult` per backbone, in order.
    """
    from pathlib import Path

    from muskie.devices import evaluation_precision, resolve_device
    from muskie.eval.backbones import build_backbone
    from muskie.eval.backbones.on_device import on_device
    from muskie.vis.tracks import tracks_figure

    target = resolve_device(device)
    precision = evaluation_precision(precision, target)
    if not backbones:
        raise ValueError("give at least one backbone")
    samples, selection = select_samples(
        scenes, num_samples, num_views, size, seed, synthetic_path, synthetic_mix, synthetic_split, benchmark, progress
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, figures = [], []
    for entry in backbones:
        backbone = on_device(build_backbone(entry) if isinstance(entry, str) else entry, target, precision)
        bar = progress_bar(samples, desc=f"matching with {backbone.name}", unit="sample", enabled=progress)
        result = evaluate_correspondence(backbone, bar, config, keep_examples=1)
        if diagnostics:
            result.diagnostics = run_diagnostics(backbone, samples, block=config.block, nn_metric=config.nn_metric)
        results.append(result)
        example = result.examples[0] if result.examples else None
        if example is not None:
            figure = tracks_figure(
                example.images,
                example.predicted,
                example.target_uv,
                example.visible,
                title=f"{result.backbone}: {scenes}, sample 0 ({result.protocol} protocol)",
            )
            path = out_dir / f"tracks_{_slug(result.backbone)}.png"
            figure.save(path)
            figures.append(str(path))
    settings = {
        "backbones": [r.backbone for r in results],
        "scenes": scenes,
        "samples": len(samples),
        "benchmark": benchmark,
        "selection": selection,
        "views": num_views,
        "size": list(size),
        "seed": seed,
        "synthetic_path": synthetic_path,
        "synthetic_mix": list(synthetic_mix),
        "synthetic_split": synthetic_split,
        "diagnostics": diagnostics,
        "device": str(target),
        "precision": precision,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "figures": figures,
    }
    report.write_report(
        out_dir,
        "results",
        f"{settings_header(settings)}\n{markdown_table(results)}",
        {"settings": settings, "results": [r.to_dict() for r in results]},
    )
    return results
