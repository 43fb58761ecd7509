"""The multi-view correspondence benchmark (brief section 4): protocol, ground truth, metrics, evaluation loop.

Protocol, per sample of ``V`` views (8 by default), view 0 is the source:

- **Scenes with depth** (held-out synthetic scenes, or any scene folder with depth): up to ``num_queries``
  (100) query pixels drawn without replacement among view 0's valid-depth pixels (seeded per sample, so
  every backbone gets the same queries). Ground-truth tracks: each query is lifted with its depth and
  camera and projected into every other view; it is visible there when it lands inside the image (nearest
  pixel), in front of the camera, on a valid-depth pixel, and is not occluded: its depth is at most that
  pixel's depth plus ``tolerance`` (0.05 world units = 5 cm in metric scenes; synthetic scenes are in
  metres). Queries visible in no other view are dropped; view 0 is never scored.
  Metrics over the visible (query, target view) pairs: 2D end-point error (mean, px), accuracy at 5 and 10
  px (the paper's) and at 5% and 10% of the image diagonal (the paper's thresholds are ~1% of its 512 px
  images, well below one patch at our sizes); 3D error: predicted and true target pixels lifted with the
  target view's depth (nearest pixel), mean distance in world units and relative to the sample's median
  valid depth in view 0, accuracy at 2% and 5% of that median depth (the paper's 2 and 5 cm, scaled to the
  scene). A prediction on a pixel without valid depth has no 3D error: it counts as a miss at both 3D
  thresholds and is left out of the 3D means (``3d missing`` says how often).
- **Scenes with cameras but no depth** (real object scenes): queries drawn among view 0's textured pixels
  (:func:`texture_mask`: grey-level standard deviation over a 7x7 window at least ``min_texture``, which
  excludes flat black backgrounds); every other view is scored by the symmetric epipolar distance of each
  match (:func:`~muskie.geometry.symmetric_epipolar_distance`, px at the evaluated resolution): median, mean
  and accuracy at 2, 5 and 10 px. A match that slides along its epipolar line scores 0: this bounds the error
  from below.

Every metric is reported pooled over all scored pairs and per view pair ``(0, t)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from muskie import report
from muskie.constants import denormalize_image
from muskie.eval.backbones.base import FeatureBackbone
from muskie.eval.readouts import DEFAULT_TEMPERATURE, attention_matches, nearest_neighbour_matches
from muskie.geometry import (
    OCCLUSION_TOLERANCE,
    lift_pixels,
    nearest_pixel,
    project_points,
    symmetric_epipolar_distance,
    unproject_depth,
    visible_in_view,
)

READOUTS = ("nn", "attention")
PIXEL_THRESHOLDS = (5.0, 10.0)
DIAGONAL_FRACTIONS = (0.05, 0.10)
DEPTH_FRACTIONS = (0.02, 0.05)
EPIPOLAR_THRESHOLDS = (2.0, 5.0, 10.0)
TEXTURE_WINDOW = 7

# (key, column title) of each protocol's metrics, in table order
DEPTH_METRICS = (
    ("pairs", "pairs"),
    ("epe_mean_px", "EPE px"),
    ("acc_5px", "@5px %"),
    ("acc_10px", "@10px %"),
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
    return ((mean_sq - mean**2).clamp(min=0).sqrt()[0, 0] >= min_texture)


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


def ground_truth_tracks(queries: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, intrinsics: torch.Tensor,
                        cam_to_world: torch.Tensor, tolerance: float = OCCLUSION_TOLERANCE) -> Tracks:
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


def score_depth_matches(predicted: torch.Tensor, tracks: Tracks, depth: torch.Tensor, valid: torch.Tensor,
                        intrinsics: torch.Tensor, cam_to_world: torch.Tensor) -> dict[str, torch.Tensor]:
    """Errors of the visible (query, target view) pairs of one sample, each ``(M,)`` float64:
    ``view`` (target index), ``error_2d`` (px), ``error_3d`` (world units, NaN where the predicted pixel
    has no valid depth), ``depth_scale`` (median valid depth of view 0), ``diagonal`` (px).

    ``predicted``: ``(V, N, 2)`` predicted pixels (row 0 ignored); the rest as in :func:`ground_truth_tracks`.
    """
    num_views, height, width = depth.shape
    scale = depth[0][valid[0]].double().median()
    views, errors_2d, errors_3d = [], [], []
    for t in range(1, num_views):
        seen = tracks.visible[t]
        if not bool(seen.any()):
            continue
        pred, true = predicted[t][seen], tracks.target_uv[t][seen]
        errors_2d.append((pred.double() - true.double()).norm(dim=-1))
        camera = (depth[t].double(), valid[t], intrinsics[t].double(), cam_to_world[t].double())
        lifted_pred, ok = lift_pixels(pred.double(), *camera)
        lifted_true, _ = lift_pixels(true.double(), *camera)
        error = (lifted_pred - lifted_true).norm(dim=-1)
        errors_3d.append(torch.where(ok, error, torch.full_like(error, math.nan)))
        views.append(torch.full((int(seen.sum()),), float(t), dtype=torch.float64))
    if not views:
        keys = ("view", "error_2d", "error_3d", "depth_scale", "diagonal")
        return {k: torch.zeros(0, dtype=torch.float64) for k in keys}
    view = torch.cat(views)
    return {"view": view, "error_2d": torch.cat(errors_2d), "error_3d": torch.cat(errors_3d),
            "depth_scale": torch.full_like(view, float(scale)),
            "diagonal": torch.full_like(view, math.hypot(height, width))}


def score_epipolar_matches(predicted: torch.Tensor, intrinsics: torch.Tensor,
                           cam_to_world: torch.Tensor) -> dict[str, torch.Tensor]:
    """``view`` and ``epipolar`` (px) ``(M,)`` float64 of every (query, target view) pair of one sample;
    ``predicted (V, N, 2)`` with the queries in row 0."""
    views, distances = [], []
    for t in range(1, predicted.shape[0]):
        distances.append(symmetric_epipolar_distance(predicted[0], predicted[t], intrinsics[0], cam_to_world[0],
                                                     intrinsics[t], cam_to_world[t]))
        views.append(torch.full((predicted.shape[1],), float(t), dtype=torch.float64))
    return {"view": torch.cat(views), "epipolar": torch.cat(distances)}


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
    out = {"pairs": int(distance.numel()), "epi_median_px": float(distance.median()),
           "epi_mean_px": float(distance.mean())}
    for threshold in EPIPOLAR_THRESHOLDS:
        out[f"acc_{threshold:g}px"] = _percent(distance <= threshold)
    return out


# ---------------------------------------------------------------- evaluation loop


@dataclass(frozen=True)
class CorrespondenceConfig:
    """Settings of :func:`evaluate_correspondence`.

    Attributes:
        num_queries: query pixels drawn per sample in view 0.
        readouts: any of ``nn`` and ``attention``; ``attention`` is skipped (and reported so) for backbones
            without cross-view attention.
        block: which block's features / attention to read (negative counts from the end; default the last).
        nn_metric: ``l2`` (the paper's) or ``cosine`` for the nearest-neighbour readout.
        temperature: soft-argmax temperature of the attention readout.
        tolerance: occlusion tolerance in world units (depth protocol).
        min_texture: query candidate threshold of :func:`texture_mask` (epipolar protocol).
        seed: seeds the queries; sample ``i`` uses ``(seed, i)``, so every backbone gets the same queries.
    """

    num_queries: int = 100
    readouts: tuple[str, ...] = READOUTS
    block: int = -1
    nn_metric: str = "l2"
    temperature: float = DEFAULT_TEMPERATURE
    tolerance: float = OCCLUSION_TOLERANCE
    min_texture: float = 0.03
    seed: int = 0

    def __post_init__(self):
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
        examples: samples kept for figures.
    """

    backbone: str
    protocol: str
    samples: int = 0
    errors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)

    def metrics(self, readout: str) -> dict[str, float]:
        """Pooled metrics of a readout."""
        summarize = depth_metrics if self.protocol == "depth" else epipolar_metrics
        return summarize(self.errors[readout])

    def per_view(self, readout: str) -> dict[int, dict[str, float]]:
        """Metrics of each view pair ``(0, t)``, keyed by ``t``."""
        summarize = depth_metrics if self.protocol == "depth" else epipolar_metrics
        errors = self.errors[readout]
        return {int(t): summarize({k: v[errors["view"] == t] for k, v in errors.items()})
                for t in errors["view"].unique().tolist()}

    def to_dict(self) -> dict:
        """JSON-ready summary: pooled and per-view metrics of every readout (NaN -> None)."""
        def clean(values):
            return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}

        return {
            "backbone": self.backbone, "protocol": self.protocol, "samples": self.samples,
            "skipped": self.skipped,
            "readouts": {r: {"pooled": clean(self.metrics(r)),
                             "per_view": {str(t): clean(m) for t, m in self.per_view(r).items()}}
                         for r in self.errors},
        }


def _protocol(sample: dict) -> str:
    if "depth" in sample and "valid" in sample and "cam_to_world" in sample:
        return "depth"
    if "cam_to_world" in sample and "intrinsics" in sample:
        return "epipolar"
    raise ValueError(f"sample of scene {sample.get('scene', '?')!r} has neither depth nor cameras: "
                     "the correspondence benchmark needs one of them")


def _predict(backbone: FeatureBackbone, images: torch.Tensor, queries: torch.Tensor, readouts: Sequence[str],
             config: CorrespondenceConfig) -> dict[str, torch.Tensor]:
    """readout -> ``(V, N, 2)`` predicted pixels (row 0: the queries) for one sample ``images (V, 3, H, W)``."""
    height, width = images.shape[-2:]
    out = backbone(images[None], block=config.block, with_attention="attention" in readouts)
    features = out.features[0]  # (V, h, w, C)
    predicted = {}
    for readout in readouts:
        if readout == "nn":
            matches = nearest_neighbour_matches(features[0], features[1:], queries, (height, width), config.nn_metric)
        else:
            attention = out.attention[0]  # (V, L, V, L)
            grid = tuple(features.shape[1:3])
            matches = attention_matches(attention[0].transpose(0, 1)[1:], attention[1:, :, 0], grid, grid, queries,
                                        (height, width), config.temperature)
        predicted[readout] = torch.cat([queries[None], matches.float()], dim=0)
    return predicted


@torch.no_grad()
def evaluate_correspondence(backbone: FeatureBackbone, samples: Iterable[dict],
                            config: CorrespondenceConfig = CorrespondenceConfig(),
                            keep_examples: int = 1) -> CorrespondenceResult:
    """Run the benchmark (module docstring) for one backbone.

    Args:
        backbone: any :class:`muskie.eval.backbones.FeatureBackbone`.
        samples: multi-view sample dicts (``docs/layout.md``), unbatched: ``images (V, 3, H, W)`` in [-1, 1]
            with ``V >= 2`` and cameras, plus ``depth``/``valid`` for the depth protocol. All samples must
            follow the same protocol.
        keep_examples: how many samples' matches to keep for figures.
    """
    readouts = [r for r in config.readouts if r != "attention" or backbone.multi_view]
    result = None
    for index, sample in enumerate(samples):
        protocol = _protocol(sample)
        if result is None:
            result = CorrespondenceResult(backbone=backbone.name, protocol=protocol)
            if "attention" in config.readouts and not backbone.multi_view:
                result.skipped["attention"] = "no cross-view attention (frame-wise backbone)"
        elif protocol != result.protocol:
            raise ValueError(f"sample {index} ({sample.get('scene', '?')}) needs the {protocol} protocol, "
                             f"earlier samples the {result.protocol} protocol: evaluate them separately")
        images = sample["images"]
        if images.dim() != 4 or images.shape[0] < 2:
            raise ValueError(f"sample {index}: images must be (V, 3, H, W) with V >= 2, got {tuple(images.shape)}")
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + index)
        tracks = None
        if protocol == "depth":
            queries = sample_queries(sample["valid"][0], config.num_queries, generator)
            tracks = ground_truth_tracks(queries, sample["depth"], sample["valid"], sample["intrinsics"],
                                         sample["cam_to_world"], config.tolerance)
            seen = tracks.visible.any(dim=0)
            queries, tracks = queries[seen], Tracks(tracks.target_uv[:, seen], tracks.visible[:, seen])
        else:
            queries = sample_queries(texture_mask(images[0], config.min_texture), config.num_queries, generator)
        if queries.shape[0] == 0:
            continue
        predicted = _predict(backbone, images, queries, readouts, config)
        for readout, matches in predicted.items():
            if protocol == "depth":
                errors = score_depth_matches(matches, tracks, sample["depth"], sample["valid"], sample["intrinsics"],
                                             sample["cam_to_world"])
            else:
                errors = score_epipolar_matches(matches, sample["intrinsics"], sample["cam_to_world"])
            pooled = result.errors.setdefault(readout, {k: torch.zeros(0, dtype=torch.float64) for k in errors})
            for key, values in errors.items():
                pooled[key] = torch.cat([pooled[key], values])
        result.samples += 1
        if len(result.examples) < keep_examples:
            result.examples.append(Example(images=images, predicted=predicted,
                                           target_uv=None if tracks is None else tracks.target_uv,
                                           visible=None if tracks is None else tracks.visible))
    if result is None:
        raise ValueError("no samples to evaluate")
    return result


# ---------------------------------------------------------------- data and reports


def load_samples(scenes: str, num_samples: int, num_views: int = 8, size: tuple[int, int] = (64, 64), seed: int = 0,
                 synthetic_path: str = "rig") -> list[dict]:
    """The benchmark's samples: ``scenes`` is ``synthetic`` (held-out test split, camera path
    ``synthetic_path``) or anything :func:`muskie.data.sources.load_scenes` reads; samples as
    :func:`muskie.data.datasets.evaluation_requests` draws them; views are full frames (largest crop of the
    output's aspect ratio) resized to ``size (H, W)``."""
    from muskie.data.datasets import evaluation_requests, open_view_dataset

    dataset = open_view_dataset(scenes, split="test", synthetic_path=synthetic_path, crop_scale=(1.0, 1.0),
                                skip_bad=False)
    return [dataset[request] for request in evaluation_requests(dataset, num_samples, num_views, size, seed)]


def markdown_table(results: Sequence[CorrespondenceResult]) -> str:
    """Pooled metrics of every backbone and readout as a markdown table (one per protocol present), followed
    by a per-view-pair table of the main metric (mean EPE for depth, median epipolar distance otherwise)."""
    sections = []
    for protocol, columns, main in (("depth", DEPTH_METRICS, "epe_mean_px"),
                                    ("epipolar", EPIPOLAR_METRICS, "epi_median_px")):
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
                per_view_rows.append([result.backbone, readout,
                                      *(per_view[t][main] if t in per_view else None for t in views)])
        per_view_table = report.markdown_table(["backbone", "readout", *(f"t={t}" for t in views)], per_view_rows)
        sections.append(f"{pooled}\n\n{dict(columns)[main]} per view pair (0, t):\n\n{per_view_table}\n")
    return "\n".join(sections)


def _slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "backbone"


def run_benchmark(backbones: Sequence[str | FeatureBackbone], scenes: str, out_dir, num_samples: int = 32,
                  num_views: int = 8, size: tuple[int, int] = (64, 64),
                  config: CorrespondenceConfig = CorrespondenceConfig(), synthetic_path: str = "rig",
                  seed: int = 0) -> list[CorrespondenceResult]:
    """The whole comparison: every backbone on the same samples and queries; writes ``out_dir/results.md``
    (:func:`markdown_table`), ``out_dir/results.json`` and ``out_dir/tracks_<backbone>.png`` (first sample).

    Args:
        backbones: spec strings (:func:`muskie.eval.backbones.build_backbone`) or built backbones.
        scenes, num_samples, num_views, size, synthetic_path, seed: see :func:`load_samples`.
        config: protocol settings.
    Returns:
        one :class:`CorrespondenceResult` per backbone, in order.
    """
    from pathlib import Path

    from muskie.eval.backbones import build_backbone
    from muskie.vis.tracks import tracks_figure

    if not backbones:
        raise ValueError("give at least one backbone")
    if num_views < 2 or num_samples < 1:
        raise ValueError(f"need at least 2 views and 1 sample, got {num_views} views and {num_samples} samples")
    samples = load_samples(scenes, num_samples, num_views, size, seed, synthetic_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, figures = [], []
    for entry in backbones:
        backbone = build_backbone(entry) if isinstance(entry, str) else entry
        result = evaluate_correspondence(backbone, samples, config, keep_examples=1)
        results.append(result)
        example = result.examples[0] if result.examples else None
        if example is not None:
            figure = tracks_figure(example.images, example.predicted, example.target_uv, example.visible,
                                   title=f"{result.backbone}: {scenes}, sample 0 ({result.protocol} protocol)")
            path = out_dir / f"tracks_{_slug(result.backbone)}.png"
            figure.save(path)
            figures.append(str(path))
    settings = {"backbones": [r.backbone for r in results], "scenes": scenes, "samples": num_samples,
                "views": num_views, "size": list(size), "seed": seed, "synthetic_path": synthetic_path,
                "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
                "figures": figures}
    report.write_report(out_dir, "results", markdown_table(results),
                 {"settings": settings, "results": [r.to_dict() for r in results]})
    return results
