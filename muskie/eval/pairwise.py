"""probe3d's pairwise correspondence protocol (El Banani et al., CVPR 2024), the other protocol the field cites,
run on the same samples as the track protocol (:mod:`muskie.eval.correspondence`).

Per view pair ``(0, t)`` of a sample with depth:

- **Candidates:** every ``stride``-th pixel in each direction (probe3d works at 1/4 resolution: stride 4) with
  valid depth, in both views; each one's feature is sampled bilinearly from its view's feature grid.
- **Matching:** for each candidate of view 0 its two nearest candidates of view ``t`` by cosine distance
  ``1 - cos``; the ratio test weighs the match ``1 - d1 / d2`` (distances clamped at 1e-9); the
  ``num_matches`` (1000) source candidates of largest weight keep their nearest neighbour. No visibility test:
  a source point hidden in view ``t`` still counts, with the error of its match.
- **Errors:** 3D, the distance between the source point and its match, both lifted with their own depth
  (world units: metres in metric scenes); 2D, the distance in view ``t`` between the source point's
  projection and the matched pixel, in pixels of the evaluated resolution.
- **Metrics:** recall (% of matches under a threshold) at 1, 2, 5 cm and 5, 10, 20, 25, 50 px (probe3d's
  NAVI script reports 1/2/5 cm and 5/25/50 px, its ScanNet script 5/10/20 px); binned by the relative
  rotation of the pair: the mean over the pairs of a bin of each pair's recall at 2 cm and at 10 px
  (probe3d's NAVI bins 0-30-60-90-120 degrees, closed at 120: pairs turned further are in no bin).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import torch
import torch.nn.functional as F

from muskie import report
from muskie.eval.backbones.base import FeatureBackbone
from muskie.eval.readouts import concatenate_normalised, readout_blocks, sample_grid
from muskie.geometry import lift_pixels, project_points, rotation_angle
from muskie.progress import progress_bar

PAIRWISE_READOUTS = ("nn", "nn-multi")
PIXEL_THRESHOLDS = (5.0, 10.0, 20.0, 25.0, 50.0)
METRIC_THRESHOLDS_CM = (1.0, 2.0, 5.0)
ROTATION_EDGES = (0.0, 30.0, 60.0, 90.0, 120.0)  # probe3d's NAVI bins, closed at the last edge
BINNED_RECALLS = (("recall_2cm", "error_3d", 0.02), ("recall_10px", "error_2d", 10.0))


@dataclass(frozen=True)
class PairwiseConfig:
    """Settings of :func:`evaluate_pairwise`.

    Attributes:
        readouts: ``nn`` (the features of ``block``) and/or ``nn-multi`` (the concatenated L2-normalised
            features of ``layers``; empty: probe3d's multi-layer choice).
        block, layers: as :class:`muskie.eval.correspondence.CorrespondenceConfig`.
        num_matches: matches kept per pair (probe3d: 1000).
        stride: candidate pixels every ``stride`` pixels (probe3d's scale factor 0.25: 4).
        ratio_test: rank matches by the ratio test (probe3d's default); False: by the smallest distance.
        rotation_edges: increasing bin edges (degrees) of the relative rotation; the last is closed.
    """

    readouts: tuple[str, ...] = ("nn",)
    block: int = -1
    layers: tuple[int, ...] = ()
    num_matches: int = 1000
    stride: int = 4
    ratio_test: bool = True
    rotation_edges: tuple[float, ...] = ROTATION_EDGES

    def __post_init__(self):
        object.__setattr__(self, "readouts", tuple(self.readouts))
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        object.__setattr__(self, "rotation_edges", tuple(float(e) for e in self.rotation_edges))
        if not self.readouts or any(r not in PAIRWISE_READOUTS for r in self.readouts):
            raise ValueError(
                f"pairwise readouts must be a non-empty subset of {PAIRWISE_READOUTS}, got {self.readouts}"
            )
        if self.num_matches < 1 or self.stride < 1:
            raise ValueError("num_matches and stride must be >= 1")
        edges = self.rotation_edges
        if len(edges) < 2 or any(b <= a for a, b in pairwise(edges)):
            raise ValueError(f"rotation_edges must be at least two increasing edges, got {edges}")

    def readout_blocks(self, readout: str, depth: int) -> list[int]:
        """The blocks (non-negative) ``readout`` reads for a ``depth``-block backbone
        (:func:`~muskie.eval.readouts.readout_blocks`)."""
        return readout_blocks(readout, depth, self.block, self.layers)


def ratio_test_matches(
    source: torch.Tensor, target: torch.Tensor, num_matches: int, ratio_test: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """probe3d's matches between feature sets ``source (N, C)`` and ``target (M, C)``, ``M >= 2``.

    Returns ``(source index (K,), target index (K,), weight (K,))`` of the ``K = min(num_matches, N)`` source
    features ranked first: by ratio-test weight ``1 - d1 / d2`` (cosine distances to the two nearest target
    features, clamped at 1e-9), largest first, or without ``ratio_test`` by the smallest ``d1``.
    """
    if target.shape[0] < 2:
        raise ValueError("the ratio test needs at least two target features")
    similarity = F.normalize(source.double(), dim=-1) @ F.normalize(target.double(), dim=-1).T
    nearest, index = (1.0 - similarity).topk(2, dim=-1, largest=False)  # (N, 2) cosine distances
    if ratio_test:
        weight = 1.0 - nearest[:, 0].clamp(min=1e-9) / nearest[:, 1].clamp(min=1e-9)
    else:
        weight = -nearest[:, 0]
    kept = weight.topk(min(num_matches, source.shape[0])).indices
    return kept, index[kept, 0], weight[kept]


def candidate_pixels(valid: torch.Tensor, stride: int) -> torch.Tensor:
    """``(N, 2)`` float pixel coordinates ``(u, v)``, row-major, of every ``stride``-th pixel (from 0, in both
    directions) of ``valid (H, W)`` that has valid depth."""
    height, width = valid.shape
    v, u = torch.meshgrid(torch.arange(0, height, stride), torch.arange(0, width, stride), indexing="ij")
    keep = valid[v, u]
    return torch.stack([u[keep], v[keep]], dim=-1).double()


def score_pair(features: torch.Tensor, sample: dict, target: int, config: PairwiseConfig) -> dict[str, torch.Tensor]:
    """Per-match errors ``(K,)`` float64 of pair ``(0, target)``: ``error_3d`` (world units), ``error_2d``
    (px). ``features``: ``(V, h, w, C)`` feature grids of the sample's views."""
    depth, valid = sample["depth"].double(), sample["valid"]
    intrinsics, cam_to_world = sample["intrinsics"].double(), sample["cam_to_world"].double()
    height, width = depth.shape[-2:]
    pixels = [candidate_pixels(valid[i], config.stride) for i in (0, target)]
    if pixels[0].shape[0] == 0 or pixels[1].shape[0] < 2:
        return {"error_3d": torch.zeros(0, dtype=torch.float64), "error_2d": torch.zeros(0, dtype=torch.float64)}
    descriptors = [
        sample_grid(features[i].double(), uv, height, width) for i, uv in zip((0, target), pixels, strict=True)
    ]
    source, matched, _ = ratio_test_matches(*descriptors, config.num_matches, config.ratio_test)
    source_uv, target_uv = pixels[0][source], pixels[1][matched]
    source_points, _ = lift_pixels(source_uv, depth[0], valid[0], intrinsics[0], cam_to_world[0])
    target_points, _ = lift_pixels(target_uv, depth[target], valid[target], intrinsics[target], cam_to_world[target])
    projected, _ = project_points(source_points, intrinsics[target], cam_to_world[target])
    return {"error_3d": (source_points - target_points).norm(dim=-1), "error_2d": (projected - target_uv).norm(dim=-1)}


def pairwise_metrics(errors: dict[str, torch.Tensor]) -> dict[str, float]:
    """Recall (%) of pooled matches at :data:`METRIC_THRESHOLDS_CM` (``recall_1cm``, ...) and
    :data:`PIXEL_THRESHOLDS` (``recall_5px``, ...), with ``matches`` and ``pairs``; NaN when empty."""
    e3d, e2d = errors["error_3d"], errors["error_2d"]
    out = {"pairs": int(errors["pair"].unique().numel()), "matches": int(e3d.numel())}
    empty = e3d.numel() == 0
    for cm in METRIC_THRESHOLDS_CM:
        out[f"recall_{cm:g}cm"] = math.nan if empty else 100.0 * float((e3d < cm / 100.0).double().mean())
    for px in PIXEL_THRESHOLDS:
        out[f"recall_{px:g}px"] = math.nan if empty else 100.0 * float((e2d < px).double().mean())
    return out


def binned_recalls(errors: dict[str, torch.Tensor], edges: Sequence[float]) -> dict[str, dict[str, float]]:
    """Bin label (``"0-30"``, ...) -> ``pairs`` and the mean over its pairs of each pair's recall (%) at 2 cm
    and at 10 px (:data:`BINNED_RECALLS`), as probe3d bins them: ``lo <= angle < hi``, no bin past the last
    edge."""
    pair, angle = errors["pair"], errors["rotation_deg"]
    pairs = pair.unique()
    per_pair_angle = torch.stack([angle[pair == p][0] for p in pairs]) if pairs.numel() else torch.zeros(0)
    out = {}
    for lo, hi in pairwise(edges):
        inside = [p for p, a in zip(pairs.tolist(), per_pair_angle.tolist(), strict=True) if lo <= a < hi]
        entry: dict[str, float] = {"pairs": len(inside)}
        for name, key, threshold in BINNED_RECALLS:
            recalls = [float((errors[key][pair == p] < threshold).double().mean()) for p in inside]
            entry[name] = 100.0 * sum(recalls) / len(recalls) if recalls else math.nan
        out[f"{lo:g}-{hi:g}"] = entry
    return out


@dataclass
class PairwiseResult:
    """What :func:`evaluate_pairwise` measured for one backbone: readout -> pooled per-match ``errors``
    (``pair``, ``error_3d``, ``error_2d``, ``rotation_deg``), the blocks each readout read, the settings."""

    backbone: str
    config: PairwiseConfig
    errors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    readout_blocks: dict[str, list[int]] = field(default_factory=dict)
    samples: int = 0

    def to_dict(self) -> dict:
        def clean(values):
            return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}

        return {
            "backbone": self.backbone,
            "protocol": "probe3d",
            "samples": self.samples,
            "readout_blocks": self.readout_blocks,
            "readouts": {
                r: {
                    "pooled": clean(pairwise_metrics(e)),
                    "binned": {
                        "rotation_deg": {
                            label: clean(m) for label, m in binned_recalls(e, self.config.rotation_edges).items()
                        }
                    },
                }
                for r, e in self.errors.items()
            },
        }


@torch.no_grad()
def evaluate_pairwise(
    backbone: FeatureBackbone, samples: Iterable[dict], config: PairwiseConfig = PairwiseConfig()
) -> PairwiseResult:
    """probe3d's protocol (module docstring) on every pair ``(0, t)`` of every sample (dicts of
    ``docs/layout.md`` with depth and cameras)."""
    result = PairwiseResult(
        backbone=backbone.name,
        config=config,
        readout_blocks={r: config.readout_blocks(r, backbone.depth) for r in config.readouts},
    )
    pair_id = 0
    for index, sample in enumerate(samples):
        if not all(k in sample for k in ("depth", "valid", "intrinsics", "cam_to_world")):
            raise ValueError(
                f"sample {index} ({sample.get('scene', '?')}): the probe3d protocol needs depth and cameras"
            )
        blocks = sorted({i for r in config.readouts for i in result.readout_blocks[r]})
        out = backbone.read_blocks(sample["images"][None], blocks)
        rotations = torch.rad2deg(
            rotation_angle(sample["cam_to_world"][:1, :3, :3].double(), sample["cam_to_world"][:, :3, :3].double())
        )
        for readout in config.readouts:
            grids = [out.features[i][0] for i in result.readout_blocks[readout]]
            features = concatenate_normalised(grids) if readout == "nn-multi" else grids[0]
            pooled = result.errors.setdefault(
                readout,
                {k: torch.zeros(0, dtype=torch.float64) for k in ("pair", "error_3d", "error_2d", "rotation_deg")},
            )
            for target in range(1, sample["images"].shape[0]):
                scored = score_pair(features, sample, target, config)
                count = scored["error_3d"].numel()
                scored["pair"] = torch.full((count,), float(pair_id + target - 1), dtype=torch.float64)
                scored["rotation_deg"] = torch.full((count,), float(rotations[target]), dtype=torch.float64)
                for key, values in scored.items():
                    pooled[key] = torch.cat([pooled[key], values])
        pair_id += sample["images"].shape[0] - 1
        result.samples += 1
    if result.samples == 0:
        raise ValueError("no samples to evaluate")
    return result


def pairwise_table(results: Sequence[PairwiseResult]) -> str:
    """Markdown: pooled recalls of every backbone and readout, then the recalls per rotation bin."""
    keys = [
        "pairs",
        "matches",
        *(f"recall_{cm:g}cm" for cm in METRIC_THRESHOLDS_CM),
        *(f"recall_{px:g}px" for px in PIXEL_THRESHOLDS),
    ]
    titles = [
        "pairs",
        "matches",
        *(f"@{cm:g}cm %" for cm in METRIC_THRESHOLDS_CM),
        *(f"@{px:g}px %" for px in PIXEL_THRESHOLDS),
    ]
    rows, binned_rows = [], []
    for result in results:
        for readout, errors in result.errors.items():
            metrics = pairwise_metrics(errors)
            rows.append([result.backbone, readout, *(metrics[k] for k in keys)])
            for label, entry in binned_recalls(errors, result.config.rotation_edges).items():
                if entry["pairs"]:
                    binned_rows.append(
                        [label, result.backbone, readout, entry["pairs"], entry["recall_2cm"], entry["recall_10px"]]
                    )
    pooled = report.markdown_table(["backbone", "readout", *titles], rows)
    binned = report.markdown_table(
        ["rotation deg", "backbone", "readout", "pairs", "@2cm % (mean of pairs)", "@10px % (mean of pairs)"],
        binned_rows,
    )
    return (
        f"probe3d protocol (pairs (0, t), cosine nearest neighbour, ratio test):\n\n{pooled}\n\n"
        f"By relative rotation (deg; empty bins left out):\n\n{binned}\n"
    )


def run_pairwise(
    backbones: Sequence[str | FeatureBackbone],
    scenes: str,
    out_dir,
    num_samples: int | None = None,
    num_views: int = 8,
    size: tuple[int, int] = (64, 64),
    config: PairwiseConfig = PairwiseConfig(),
    seed: int = 0,
    benchmark: str | None = None,
    synthetic_path: str = "rig",
    synthetic_mix: Sequence[dict] = (),
    synthetic_split: str = "test",
    progress: bool = False,
    device: str = "cpu",
    precision: str = "fp32",
) -> list[PairwiseResult]:
    """The probe3d protocol for every backbone on the samples of
    :func:`muskie.eval.correspondence.select_samples`; writes ``out_dir/results.md`` (the pinned settings,
    :func:`pairwise_table`) and ``out_dir/results.json``. ``progress`` shows bars over the samples loaded
    and over each backbone's samples (``muskie.progress``); the backbones compute on ``device``
    (``muskie.devices.resolve_device``) at ``precision`` (``fp32``, ``bf16`` or ``auto``, as
    :func:`muskie.eval.correspondence.run_benchmark`), the matches are scored on the CPU in float32."""
    from muskie.devices import evaluation_precision, resolve_device
    from muskie.eval.backbones import build_backbone
    from muskie.eval.backbones.on_device import on_device
    from muskie.eval.correspondence import select_samples

    target = resolve_device(device)
    precision = evaluation_precision(precision, target)
    if not backbones:
        raise ValueError("give at least one backbone")
    samples, selection = select_samples(
        scenes, num_samples, num_views, size, seed, synthetic_path, synthetic_mix, synthetic_split, benchmark, progress
    )
    results = []
    for entry in backbones:
        backbone = on_device(build_backbone(entry) if isinstance(entry, str) else entry, target, precision)
        bar = progress_bar(samples, desc=f"matching with {backbone.name}", unit="sample", enabled=progress)
        results.append(evaluate_pairwise(backbone, bar, config))
    settings = {
        "protocol": "probe3d",
        "backbones": [r.backbone for r in results],
        "scenes": scenes,
        "samples": len(samples),
        "benchmark": benchmark,
        "selection": selection,
        "views": num_views,
        "size": list(size),
        "seed": seed,
        "device": str(target),
        "precision": precision,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
    }
    height, width = size
    header = (
        f"Settings: probe3d protocol; {selection}; {height}x{width} px, pairs (0, t) of {len(samples)} samples "
        f"of {num_views} views; readouts {', '.join(config.readouts)} (block {config.block}, multi-layer blocks "
        f"{list(config.layers) or 'probe3d default'}); candidates every {config.stride} px, top "
        f"{config.num_matches} matches by {'ratio test' if config.ratio_test else 'distance'}; backbones in "
        f"{precision}.\n"
    )
    report.write_report(
        out_dir,
        "results",
        f"{header}\n{pairwise_table(results)}",
        {"settings": settings, "results": [r.to_dict() for r in results]},
    )
    return results
