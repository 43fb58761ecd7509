"""Frozen-feature dense probes on synthetic scenes: how much depth and surface orientation a backbone's
features carry (the probe3d protocol of El Banani et al., CVPR 2024, at CPU scale).

Protocol, per backbone (every backbone gets identical samples and the same seeds for the probe's
initialisation and batch order):

- **Data:** ``num_samples`` samples of the synthetic ``train`` split and ``num_test_samples`` of the
  ``test`` split (disjoint scenes), ``num_views`` views each at ``size``, drawn by
  :func:`muskie.data.datasets.evaluation_requests` (sample ``k``: scene ``k``, seed ``seed + k``). A
  multi-view backbone sees all views of a sample together; the probe reads each view on its own. Ground
  truth comes from the renderer: z-depth and unit normals in the camera frame (OpenCV axes), both exact,
  on the pixels that hit a surface (``valid``).
- **Features:** the backbone is frozen: the features of every view (one or several blocks, concatenated
  along channels) are computed once under ``torch.no_grad`` and kept in memory, then standardised per
  channel with the mean and standard deviation of the training features.
- **Probe:** :class:`DenseProbe` on the feature grid, its output upsampled bilinearly to the image. The
  default ``conv`` head is a 1x1 convolution to ``hidden`` channels, GELU, and a 3x3 convolution
  (replicate padding) to the output; ``linear`` is one 1x1 convolution. One probe per task. Depth: one
  channel, log-depth. Normals: three channels, normalised to unit length after upsampling.
- **Training:** ``steps`` AdamW steps on batches of ``batch_size`` training views drawn without replacement
  (a new permutation each epoch), linear warm-up then cosine decay to 0, everything seeded by ``seed``.
  Nothing is chosen on any held-out split: the number of steps and every setting are fixed in advance.
  Depth loss: the scale-invariant log loss of Eigen et al. (``sqrt(mean d^2 - lambda mean(d)^2)`` per view,
  ``d = predicted - true log-depth``, ``lambda = 0.85`` as probe3d and AdaBins). Normals loss: the mean
  angle between predicted and true normal (radians).
- **Metrics** on the ``test`` views, valid pixels only, computed per view and averaged over views (views
  without a valid pixel are left out). Depth, after aligning the predicted depth ``exp(log-depth)`` to the
  truth by the per-view median ratio ``s = median(true) / median(predicted)``: AbsRel
  ``mean |s p - t| / t`` and delta1, the % of pixels with ``max(s p / t, t / s p) < 1.25``. Normals: the
  mean angular error in degrees and the % of pixels within 11.25, 22.5 and 30 degrees.

A constant feature map (``constant_features``) gives the floor: a spatially constant prediction, which
after median alignment is the per-view median depth, and for normals the single direction that fits the
training views best.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from muskie import report
from muskie.devices import precision_context
from muskie.eval.backbones.base import FeatureBackbone
from muskie.eval.probe_config import HEADS, TASKS, ProbeConfig
from muskie.progress import progress_bar

DELTA_THRESHOLD = 1.25
ANGLE_THRESHOLDS = (11.25, 22.5, 30.0)
# the angular loss clamps cosines this far from +-1, where the derivative of acos is infinite
_COSINE_MARGIN = 1e-6
# features whose training standard deviation is below this are only centred (constant channels become 0)
_MIN_FEATURE_STD = 1e-6

# (key, column title) of each task's metrics, in table order
DEPTH_METRICS = (("abs_rel", "AbsRel"), ("delta1", "d<1.25 %"))
NORMAL_METRICS = (
    ("angle_mean", "mean angle deg"),
    ("within_11_25", "<11.25 deg %"),
    ("within_22_5", "<22.5 deg %"),
    ("within_30", "<30 deg %"),
)
TASK_METRICS = {"depth": DEPTH_METRICS, "normals": NORMAL_METRICS}
TASK_CHANNELS = {"depth": 1, "normals": 3}
CONSTANT_NAME = "constant features (floor)"


# ---------------------------------------------------------------- data


@dataclass
class ProbeTargets:
    """Ground truth of ``N`` views (all views of all samples, sample-major).

    Attributes:
        depth: ``(N, H, W)`` float32 z-depth (0 where invalid); valid: ``(N, H, W)`` bool;
        normals: ``(N, 3, H, W)`` float32 unit normals in the camera frame (OpenCV axes), 0 where invalid;
            None when the samples have none (then only the depth probe can run).
    """

    depth: torch.Tensor
    valid: torch.Tensor
    normals: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> ProbeTargets:
        return ProbeTargets(
            self.depth.to(device), self.valid.to(device), None if self.normals is None else self.normals.to(device)
        )

    def select(self, index: torch.Tensor) -> ProbeTargets:
        return ProbeTargets(self.depth[index], self.valid[index], None if self.normals is None else self.normals[index])


def load_probe_samples(
    split: str,
    num_samples: int,
    num_views: int,
    size: tuple[int, int],
    seed: int = 0,
    synthetic_path: str = "rig",
    synthetic_mix: Sequence[dict] = (),
) -> list[dict]:
    """Synthetic samples of ``split`` with normals (sample dicts of ``docs/layout.md`` plus ``normals``), one
    scene each, drawn by :func:`muskie.data.datasets.evaluation_requests`; the scenes of ``synthetic_path`` or
    of the mixture ``synthetic_mix``."""
    from muskie.data.datasets import evaluation_requests, synthetic_configs
    from muskie.data.synthetic import SyntheticViewDataset

    dataset = SyntheticViewDataset(
        split=split,
        config=synthetic_configs(synthetic_path, None, list(synthetic_mix)),
        num_scenes=num_samples,
        with_normals=True,
    )
    return [dataset[request] for request in evaluation_requests(dataset, num_samples, num_views, size, seed)]


def probe_targets(samples: Sequence[dict]) -> ProbeTargets:
    """The ground truth of every view of ``samples`` (dicts with ``depth`` and ``valid``, and ``normals``
    when every sample has them)."""
    missing = [s.get("scene", "?") for s in samples if "depth" not in s or "valid" not in s]
    if missing:
        raise ValueError(f"probes need depth: samples of {', '.join(missing[:3])} have none")
    with_normals = all("normals" in s for s in samples)
    return ProbeTargets(
        depth=torch.cat([s["depth"] for s in samples]).float(),
        valid=torch.cat([s["valid"] for s in samples]),
        normals=torch.cat([s["normals"] for s in samples]).float() if with_normals else None,
    )


@torch.no_grad()
def extract_features(
    backbone: FeatureBackbone,
    samples: Sequence[dict],
    blocks: Sequence[int] = (-1,),
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> torch.Tensor:
    """Frozen features ``(N, C, h, w)`` float32 on ``device`` of every view of ``samples`` (sample-major, as
    :func:`probe_targets`), the blocks ``blocks`` concatenated along channels. All views of a sample go
    through the backbone together; ``batch_size`` samples per forward pass, computed at ``precision``
    (``fp32``, or ``bf16`` autocast, :func:`muskie.devices.precision_context`)."""
    device = torch.device(device)
    backbone = backbone.to(device).eval()
    chunks = []
    for start in range(0, len(samples), batch_size):
        images = torch.stack([s["images"] for s in samples[start : start + batch_size]]).to(device)
        with precision_context(precision, device):
            per_block = [backbone(images, block=block).features.float() for block in blocks]  # (B, V, h, w, C)
        chunks.append(torch.cat(per_block, dim=-1).flatten(0, 1).permute(0, 3, 1, 2).contiguous())
    return torch.cat(chunks)


def constant_features(num_views: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(N, 1, 1, 1)`` ones: a feature map that carries no information (the floor of every metric)."""
    return torch.ones(num_views, 1, 1, 1, device=device)


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation ``(1, C, 1, 1)`` of ``features (N, C, h, w)`` over views and
    cells (the standard deviation floored, so constant channels standardise to 0)."""
    mean = features.mean(dim=(0, 2, 3), keepdim=True)
    std = features.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(_MIN_FEATURE_STD)
    return mean, std


# ---------------------------------------------------------------- probe, losses, metrics


class DenseProbe(nn.Module):
    """A small dense head on a feature grid, its output upsampled bilinearly to the image.

    Args:
        in_channels: feature channels ``C``; out_channels: 1 (log-depth) or 3 (normals).
        head: ``conv`` (1x1 conv to ``hidden`` channels, GELU, 3x3 conv with replicate padding: a per-cell MLP
            with a 3x3 neighbourhood, the 3x3 last because it is cheapest there) or ``linear`` (1x1 conv).
            Replicate padding keeps a constant feature map's prediction constant (zero padding would mark
            the border).
        hidden: width of the conv head.
    """

    def __init__(self, in_channels: int, out_channels: int, head: str = "conv", hidden: int = 128):
        super().__init__()
        if head == "linear":
            self.layers = nn.Conv2d(in_channels, out_channels, 1)
        elif head == "conv":
            self.layers = nn.Sequential(
                nn.Conv2d(in_channels, hidden, 1),
                nn.GELU(),
                nn.Conv2d(hidden, out_channels, 3, padding=1, padding_mode="replicate"),
            )
        else:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")

    def forward(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``(N, out, H, W)`` from standardised ``features (N, C, h, w)``; the grid tiles the image uniformly
        (``muskie.eval.backbones.base``), so ``align_corners=False`` puts each cell's value at its centre."""
        return F.interpolate(self.layers(features), size=size, mode="bilinear", align_corners=False)


def scale_invariant_log_loss(
    log_depth: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, si_lambda: float = 0.85
) -> torch.Tensor:
    """Eigen et al.'s scale-invariant loss, averaged over views with a valid pixel.

    Args:
        log_depth: ``(N, H, W)`` predicted log-depth; depth: ``(N, H, W)`` true z-depth (> 0 where valid);
        valid: ``(N, H, W)`` bool; si_lambda: 0 gives the RMSE of log-depth, 1 its standard deviation.
    """
    diff = torch.where(valid, log_depth - torch.log(torch.where(valid, depth, 1.0)), 0.0)
    count = valid.flatten(1).sum(1)
    used = count > 0
    count = count.clamp_min(1)
    mean = diff.flatten(1).sum(1) / count
    mean_sq = diff.square().flatten(1).sum(1) / count
    per_view = (mean_sq - si_lambda * mean.square()).clamp_min(1e-12).sqrt()
    return per_view[used].mean()


def unit_vectors(vectors: torch.Tensor) -> torch.Tensor:
    """``vectors (N, 3, H, W)`` scaled to unit length along dim 1 (zero vectors stay 0). Faster on the CPU
    than ``F.normalize``, whose norm over a strided dim is slow."""
    return vectors * torch.rsqrt(vectors.square().sum(1, keepdim=True).clamp_min(1e-24))


def angular_loss(normals: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean angle (radians) over valid pixels between ``normals (N, 3, H, W)`` and ``target (N, 3, H, W)``,
    both unit vectors; ``valid (N, H, W)`` bool."""
    cosine = (normals * target).sum(1).clamp(-1 + _COSINE_MARGIN, 1 - _COSINE_MARGIN)
    return torch.where(valid, torch.acos(cosine), 0.0).sum() / valid.sum().clamp_min(1)


def _mean_over_views(per_view: torch.Tensor, used: torch.Tensor) -> float:
    return float(per_view[used].mean()) if bool(used.any()) else math.nan


def align_depth_median(depth: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``depth (N, H, W)`` (> 0) scaled per view by ``median(target) / median(depth)`` over the view's valid
    pixels (medians as ``numpy.median``: the mean of the two middle values for even counts); views without
    valid pixels are returned unscaled."""
    nan = torch.tensor(math.nan, dtype=depth.dtype, device=depth.device)
    predicted = torch.nanquantile(torch.where(valid, depth, nan).flatten(1), 0.5, dim=1)
    true = torch.nanquantile(torch.where(valid, target.to(depth.dtype), nan).flatten(1), 0.5, dim=1)
    scale = torch.where(valid.flatten(1).any(1), true / predicted, 1.0)
    return depth * scale[:, None, None]


def depth_metrics(depth: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """AbsRel and delta1 (%) of predicted ``depth (N, H, W)`` (> 0) against ``target (N, H, W)`` on ``valid``
    pixels, after :func:`align_depth_median`; per view, then averaged over views with a valid pixel.
    Computed in float64."""
    depth, target = depth.double(), target.double()
    aligned = align_depth_median(depth, target, valid)
    safe_target = torch.where(valid, target, 1.0)
    count = valid.flatten(1).sum(1)
    used = count > 0
    count = count.clamp_min(1)
    relative = torch.where(valid, (aligned - safe_target).abs() / safe_target, 0.0)
    ratio = torch.maximum(aligned / safe_target, safe_target / aligned)
    within = valid & (ratio < DELTA_THRESHOLD)
    return {
        "abs_rel": _mean_over_views(relative.flatten(1).sum(1) / count, used),
        "delta1": _mean_over_views(100.0 * within.flatten(1).sum(1) / count, used),
    }


def angular_error_degrees(normals: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Angle ``(N, H, W)`` in degrees between ``normals`` and ``target`` ``(N, 3, H, W)`` (normalised here;
    a zero vector gets 90 degrees), in float64."""
    cosine = F.cosine_similarity(normals.double(), target.double(), dim=1, eps=1e-12)
    return torch.rad2deg(torch.acos(cosine.clamp(-1.0, 1.0)))


def normal_metrics(normals: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """Mean angular error (degrees) and % of pixels within 11.25, 22.5 and 30 degrees of predicted
    ``normals (N, 3, H, W)`` against unit ``target (N, 3, H, W)`` on ``valid (N, H, W)`` pixels; per view,
    then averaged over views with a valid pixel."""
    angle = angular_error_degrees(normals, target)
    count = valid.flatten(1).sum(1)
    used = count > 0
    count = count.clamp_min(1)
    out = {"angle_mean": _mean_over_views(torch.where(valid, angle, 0.0).flatten(1).sum(1) / count, used)}
    for threshold, (key, _) in zip(ANGLE_THRESHOLDS, NORMAL_METRICS[1:], strict=True):
        within = (valid & (angle < threshold)).flatten(1).sum(1)
        out[key] = _mean_over_views(100.0 * within / count, used)
    return out


# ---------------------------------------------------------------- training and scoring


def _task_loss(task: str, output: torch.Tensor, targets: ProbeTargets, si_lambda: float) -> torch.Tensor:
    if task == "depth":
        return scale_invariant_log_loss(output[:, 0], targets.depth, targets.valid, si_lambda)
    return angular_loss(unit_vectors(output), targets.normals, targets.valid)


def _learning_rate_factor(step: int, steps: int, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps``, then half a cosine from 1 to 0 at ``steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_probe(
    features: torch.Tensor, targets: ProbeTargets, task: str, config: ProbeConfig = ProbeConfig()
) -> tuple[DenseProbe, list[float]]:
    """Train one probe on standardised ``features (N, C, h, w)`` (see :func:`feature_statistics`) against
    ``targets`` of the same ``N`` views, on the features' device; returns the probe (eval mode) and the loss
    of every step. Deterministic in ``config.seed`` on the CPU (CUDA's bilinear backward is not bitwise)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "normals" and targets.normals is None:
        raise ValueError("the normals probe needs samples with normals (synthetic samples rendered with_normals)")
    if features.shape[0] != targets.depth.shape[0]:
        raise ValueError(f"{features.shape[0]} feature maps for {targets.depth.shape[0]} target views")
    device = features.device
    size = tuple(targets.depth.shape[-2:])
    targets = targets.to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        probe = DenseProbe(features.shape[1], TASK_CHANNELS[task], config.head, config.hidden).to(device)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    num_views, order, position = features.shape[0], torch.zeros(0, dtype=torch.long), 0
    losses = []
    probe.train()
    for step in range(config.steps):
        if position + min(config.batch_size, num_views) > len(order):
            order, position = torch.randperm(num_views, generator=generator), 0
        index = order[position : position + config.batch_size].to(device)
        position += len(index)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _learning_rate_factor(step, config.steps, config.warmup_steps)
        loss = _task_loss(task, probe(features[index], size), targets.select(index), config.si_lambda)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return probe.eval(), losses


@torch.no_grad()
def predict(
    probe: DenseProbe, features: torch.Tensor, size: tuple[int, int], task: str, batch_size: int = 64
) -> torch.Tensor:
    """The probe's prediction for standardised ``features (N, C, h, w)``: depth ``(N, H, W)`` (metres up to
    scale, ``exp`` of the log-depth) or unit normals ``(N, 3, H, W)``."""
    outputs = torch.cat(
        [probe(features[start : start + batch_size], size) for start in range(0, features.shape[0], batch_size)]
    )
    if task == "depth":
        return outputs[:, 0].exp()
    return unit_vectors(outputs)


def score(prediction: torch.Tensor, targets: ProbeTargets, task: str) -> dict[str, float]:
    """The task's metrics (:func:`depth_metrics` or :func:`normal_metrics`) of a :func:`predict` output."""
    if task == "depth":
        return depth_metrics(prediction, targets.depth.to(prediction.device), targets.valid.to(prediction.device))
    return normal_metrics(prediction, targets.normals.to(prediction.device), targets.valid.to(prediction.device))


@dataclass
class ProbeResult:
    """One backbone's probe on one task.

    Attributes:
        backbone: name; task: ``depth`` or ``normals``; metrics: the test metrics (keys of ``TASK_METRICS``);
        train_loss: mean loss of the last tenth of the steps; grid: ``(h, w)`` feature grid; channels: ``C``;
        seconds: ``features`` (extraction of train and test views, shared by the tasks) and ``training``.
    """

    backbone: str
    task: str
    metrics: dict[str, float]
    train_loss: float
    grid: tuple[int, int]
    channels: int
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "backbone": self.backbone,
            "task": self.task,
            "metrics": {k: (None if math.isnan(v) else v) for k, v in self.metrics.items()},
            "train_loss": self.train_loss,
            "grid": list(self.grid),
            "channels": self.channels,
            "seconds": self.seconds,
        }


def probe_features(
    name: str,
    train_features: torch.Tensor,
    train_targets: ProbeTargets,
    test_features: torch.Tensor,
    test_targets: ProbeTargets,
    config: ProbeConfig = ProbeConfig(),
    feature_seconds: float = 0.0,
) -> list[ProbeResult]:
    """Standardise, train a probe per task of ``config.tasks`` and score it on the test views.

    Args:
        name: the backbone's name for the results.
        train_features, test_features: ``(N, C, h, w)`` and ``(M, C, h, w)`` frozen features, one device.
        train_targets, test_targets: ground truth of the same ``N`` and ``M`` views.
        feature_seconds: extraction time, recorded in the results.
    """
    mean, std = feature_statistics(train_features)
    train_features, test_features = (train_features - mean) / std, (test_features - mean) / std
    size = tuple(test_targets.depth.shape[-2:])
    results = []
    for task in config.tasks:
        start = time.perf_counter()
        probe, losses = train_probe(train_features, train_targets, task, config)
        seconds = time.perf_counter() - start
        metrics = score(predict(probe, test_features, size, task), test_targets, task)
        tail = losses[-max(1, len(losses) // 10) :]
        results.append(
            ProbeResult(
                backbone=name,
                task=task,
                metrics=metrics,
                train_loss=sum(tail) / len(tail),
                grid=tuple(train_features.shape[-2:]),
                channels=train_features.shape[1],
                seconds={"features": feature_seconds, "training": seconds},
            )
        )
    return results


def evaluate_probes(
    backbone: FeatureBackbone,
    train_samples: Sequence[dict],
    test_samples: Sequence[dict],
    config: ProbeConfig = ProbeConfig(),
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> list[ProbeResult]:
    """Extract ``backbone``'s frozen features of the train and test samples (dicts with ``images``,
    ``depth``, ``valid``, ``normals``) at ``precision`` and run :func:`probe_features` on ``device`` (the
    probes train in float32)."""
    start = time.perf_counter()
    extract = dict(batch_size=config.extract_batch, device=device, precision=precision)
    train_features = extract_features(backbone, train_samples, config.blocks, **extract)
    test_features = extract_features(backbone, test_samples, config.blocks, **extract)
    seconds = time.perf_counter() - start
    return probe_features(
        backbone.name,
        train_features,
        probe_targets(train_samples),
        test_features,
        probe_targets(test_samples),
        config,
        feature_seconds=seconds,
    )


# ---------------------------------------------------------------- the whole comparison and its report


def markdown_table(results: Sequence[ProbeResult]) -> str:
    """One table per task: every backbone's test metrics, final training loss, feature grid and times."""
    sections = []
    for task in TASKS:
        chosen = [r for r in results if r.task == task]
        if not chosen:
            continue
        columns = TASK_METRICS[task]
        rows = [
            [
                r.backbone,
                *(r.metrics[key] for key, _ in columns),
                r.train_loss,
                f"{r.grid[0]}x{r.grid[1]}x{r.channels}",
                round(r.seconds.get("training", 0.0), 1),
            ]
            for r in chosen
        ]
        header = ["backbone", *(title for _, title in columns), "train loss", "features", "train s"]
        sections.append(f"{task}:\n\n{report.markdown_table(header, rows)}\n")
    return "\n".join(sections)


def run_probes(
    backbones: Sequence[str | FeatureBackbone],
    out_dir,
    config: ProbeConfig = ProbeConfig(),
    device: str = "auto",
    include_constant: bool = True,
    progress: bool = False,
    precision: str = "fp32",
) -> list[ProbeResult]:
    """Probe every backbone on the same samples; writes ``out_dir/probes.md`` (:func:`markdown_table` under
    a line of settings) and ``out_dir/probes.json`` (every setting, every result).

    Args:
        backbones: spec strings (:func:`muskie.eval.backbones.build_backbone`) or built backbones.
        config: the protocol's settings.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (:func:`muskie.devices.resolve_device`).
        include_constant: add the constant-feature floor (:func:`constant_features`) as a first row.
        progress: show a bar over the probes trained, one per row and task (``muskie.progress``).
        precision: what the backbones' features are computed in (``fp32``, ``bf16`` or ``auto``,
            :func:`muskie.devices.resolve_precision`; recorded); the probes train in float32 either way.
    Returns:
        the results in order (the floor's first), one per backbone and task.
    """
    from muskie.devices import evaluation_precision, resolve_device
    from muskie.eval.backbones import build_backbone

    if not backbones:
        raise ValueError("give at least one backbone")
    target = resolve_device(device)
    precision = evaluation_precision(precision, target)
    built = [build_backbone(entry) if isinstance(entry, str) else entry for entry in backbones]
    for backbone in built:
        backbone.grid_size(*config.size)  # a size the backbone refuses fails here, before any rendering
    start = time.perf_counter()
    train_samples = load_probe_samples(
        "train",
        config.num_samples,
        config.num_views,
        config.size,
        config.seed,
        config.synthetic_path,
        config.synthetic_mix,
    )
    test_samples = load_probe_samples(
        "test",
        config.test_samples,
        config.num_views,
        config.size,
        config.seed,
        config.synthetic_path,
        config.synthetic_mix,
    )
    render_seconds = time.perf_counter() - start
    train_targets, test_targets = probe_targets(train_samples), probe_targets(test_samples)
    results = []
    bar = progress_bar(
        total=(len(built) + include_constant) * len(config.tasks),
        desc="training probes",
        unit="probe",
        enabled=progress,
    )
    if include_constant:
        results += probe_features(
            CONSTANT_NAME,
            constant_features(train_targets.depth.shape[0], target),
            train_targets,
            constant_features(test_targets.depth.shape[0], target),
            test_targets,
            config,
        )
        bar.update(len(config.tasks))
    for backbone in built:
        results += evaluate_probes(backbone, train_samples, test_samples, config, target, precision)
        bar.update(len(config.tasks))
    bar.close()
    settings = {
        "config": config.to_dict(),
        "backbones": [b.name for b in built],
        "specs": [entry if isinstance(entry, str) else None for entry in backbones],
        "include_constant": include_constant,
        "device": str(target),
        "precision": precision,
        "torch": torch.__version__,
        "train_views": int(train_targets.depth.shape[0]),
        "test_views": int(test_targets.depth.shape[0]),
        "render_seconds": render_seconds,
    }
    height, width = config.size
    scenes = (
        f"a synthetic mixture of {len(config.synthetic_mix)} scene kinds"
        if config.synthetic_mix
        else f"synthetic {config.synthetic_path} scenes"
    )
    header = (
        f"Frozen-feature probes: {scenes}, {config.num_samples} train / "
        f"{config.test_samples} test samples x {config.num_views} views, {height}x{width}; {config.head} "
        f"head, {config.steps} steps, blocks {list(config.blocks)}, seed {config.seed}, features in {precision}. "
        "Depth metrics after per-view median scaling; normals in the camera frame.\n\n"
    )
    report.write_report(
        out_dir,
        "probes",
        header + markdown_table(results),
        {"settings": settings, "results": [r.to_dict() for r in results]},
    )
    return results
