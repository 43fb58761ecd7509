"""The feed-forward reconstruction benchmarks of the paper (brief section 5, Tables 1 and 4): 7-Scenes and
NRGBD sequences reconstructed from their keyframes, in the sparse and dense settings of the feed-forward
papers.

Protocol (every setting is recorded in the results, :func:`benchmark_settings`):

- **Scenes.** 7-Scenes: the sequences each scene's ``TestSplit.txt`` lists (18 in the full dataset), as
  Spann3R, CUT3R and pi3 evaluate; NRGBD: every scene folder of the root (9).
- **Keyframes.** Frames numbered 0, s, 2s, ... of each sequence (:func:`muskie.data.selection.stride_keyframes`),
  all of them in one forward pass. Sparse: s = 200 (7-Scenes) and 500 (NRGBD), CUT3R's
  ``eval/mv_recon/launch.py``; dense: s = 40 and 100, pi3's ``configs/data/mv_recon.yaml``. The
  ``*-release`` benchmarks are the authors' release's test sets instead: seeded samples of 8 frames near an
  anchor frame (:func:`window_views`), every sequence of the root.
- **Depth.** Millimetres to metres; no measurement (0; 65535 in 7-Scenes) and anything outside
  [1 mm, 10 m] is invalid, Spann3R's rule that CUT3R and pi3 keep. 7-Scenes needs the colour-registered
  ``depth.proj.png`` (:func:`muskie.data.formats.sevenscenes.write_registered_depth`), or ``register_depth``
  to register the raw maps in memory.
- **Views.** The largest centred crop of the input size's aspect, resized to it (depth by nearest neighbour).
- **Poses.** AUC@5/15/30 over all keyframe pairs of a sequence (:mod:`muskie.eval.reconstruction_metrics`).
- **Points.** The valid pixels' predicted points aligned to the GT by Umeyama, then point-to-point ICP
  pairing points within 0.1 m (pi3's threshold); accuracy, completeness (means and medians), overall, L1 and
  normal consistency (normals from 30 nearest neighbours, Open3D's default in pi3's code).

Reported per scene, as the **mean over scenes** (how CUT3R and pi3 report accuracy, completeness and normal
consistency: each sequence's mean, averaged) and **pooled** (pose AUC over the pairs of all sequences
together, as VGGT's and pi3's pose tables count pairs; point metrics over the points of all sequences).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from muskie import report
from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import read_dataset, sevenscenes
from muskie.data.scene import Frame, Scene
from muskie.data.selection import keyframe_number, load_views, stride_keyframes
from muskie.devices import precision_context
from muskie.eval.reconstruction import REPORT_NAME, gt_points, prediction_errors
from muskie.eval.reconstruction_benchmark_settings import BENCHMARKS, ReconBenchmark, get_benchmark  # noqa: F401
from muskie.eval.reconstruction_metrics import AUC_THRESHOLDS, pose_metrics, summarise_pointmap_errors
from muskie.progress import progress_bar
from muskie.report import format_cell

DEPTH_RANGE = (0.001, 10.0)  # metres: valid depth (Spann3R's rule, kept by CUT3R and pi3)
ICP_DISTANCE = 0.1  # metres: ICP's pairing distance in pi3's and CUT3R's evaluations
NORMAL_NEIGHBOURS = 30


Predictor = Callable[[dict], tuple[torch.Tensor, torch.Tensor]]
POINT_COLUMNS = (
    "accuracy",
    "completeness",
    "overall",
    "l1",
    "accuracy_median",
    "completeness_median",
    "normal_consistency",
)
TABLE_COLUMNS = (
    "views",
    "pairs",
    *(f"auc@{t}" for t in AUC_THRESHOLDS),
    "median_rotation_error",
    "median_translation_error",
    *POINT_COLUMNS,
)
COLUMN_TITLES = {
    "median_rotation_error": "rot err (deg)",
    "median_translation_error": "dir err (deg)",
    "accuracy_median": "acc med",
    "completeness_median": "comp med",
    "normal_consistency": "NC",
    "accuracy": "acc",
    "completeness": "comp",
}


def benchmark_scenes(benchmark: ReconBenchmark, root: str | Path) -> tuple[list[Scene], list[str]]:
    """The sequences a benchmark evaluates under ``root`` (see the module docstring), in order, and the ids of
    those its split lists but the root lacks (a partial download: the result then covers fewer scenes)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder (the {benchmark.title} root)")
    if benchmark.dataset_format != "7scenes" or benchmark.window is not None:
        return read_dataset(root, benchmark.dataset_format), []
    listed = sevenscenes.split_sequences(root)
    present = set(sevenscenes.find_scenes(root))
    scenes = [sevenscenes.FORMAT.read_scene(root, scene_id) for scene_id in listed if scene_id in present]
    return scenes, [scene_id for scene_id in listed if scene_id not in present]


def _depth_reader(benchmark: ReconBenchmark, register_depth: bool) -> Callable[[Frame], torch.Tensor]:
    """A frame's depth in metres with the benchmark's validity rule applied (invalid = 0)."""

    def depth_of(frame: Frame) -> torch.Tensor:
        if frame.depth_path is not None:
            depth = read_frame_depth(frame)
        elif benchmark.dataset_format == "7scenes" and register_depth:
            depth = sevenscenes.registered_depth(sevenscenes.raw_depth_path(frame.image_path)).float()
        elif benchmark.dataset_format == "7scenes":
            raise ValueError(
                f"{frame.image_path}: no colour-registered {sevenscenes.REGISTERED_SUFFIX} beside it "
                "(write them with muskie.data.formats.sevenscenes.write_registered_depth, or pass "
                "--register-depth to register the raw depth in memory)"
            )
        else:
            raise ValueError(f"{frame.image_path}: no depth file for this frame")
        low, high = DEPTH_RANGE
        return torch.where((depth >= low) & (depth <= high), depth, torch.zeros_like(depth))

    return depth_of


def window_views(num_frames: int, window: int, views: int, rng: np.random.Generator) -> list[int]:
    """Positions (into a sequence's frames in frame-number order) of one sample of a window benchmark: an
    anchor drawn uniformly from ``0 .. num_frames - 1``, then ``views - 1`` others drawn without replacement
    from the positions ``[anchor - window, anchor + window)`` clipped to the sequence, anchor excluded.

    The authors' release draws the others with replacement; a repeated frame has no baseline, so its pairs
    have no translation direction (scored as a 90-degree error) and even the ground truth would not score AUC
    100: muskie draws distinct frames.
    """
    if num_frames < views:
        raise ValueError(f"{num_frames} frames, fewer than the {views} views of a sample")
    anchor = int(rng.integers(num_frames))
    around = [i for i in range(max(0, anchor - window), min(num_frames, anchor + window)) if i != anchor]
    if len(around) < views - 1:
        raise ValueError(f"{len(around) + 1} frames within {window} of frame position {anchor}, fewer than {views}")
    return [anchor, *(int(i) for i in rng.choice(around, size=views - 1, replace=False))]


def _window_samples(
    benchmark: ReconBenchmark,
    scenes: list[Scene],
    size: tuple[int, int],
    depth_of: Callable[[Frame], torch.Tensor],
    seed: int,
    count: int,
    progress: bool,
) -> tuple[list[dict], dict[str, str]]:
    """``count`` samples of a window benchmark, sample ``i`` from sequence ``i mod N`` of those with at least
    ``benchmark.views`` frames; each named ``"<sequence> #<i>"``."""
    assert benchmark.window is not None
    usable = [s for s in scenes if len(s.frames) >= benchmark.views]
    left_out = {
        s.name: f"{len(s.frames)} frame(s), fewer than {benchmark.views}"
        for s in scenes
        if len(s.frames) < benchmark.views
    }
    if not usable:
        raise ValueError(f"no {benchmark.title} sequence has {benchmark.views} frames")
    # each sequence's frame indices in frame-number order: the positions a window counts in
    orders = [sorted(range(len(s.frames)), key=lambda k, s=s: keyframe_number(s.frames[k])) for s in usable]
    rng = np.random.default_rng(seed)
    samples = []
    for i in progress_bar(range(count), desc=f"reading {benchmark.title} samples", enabled=progress):
        scene, by_number = usable[i % len(usable)], orders[i % len(usable)]
        positions = window_views(len(by_number), benchmark.window, benchmark.views, rng)
        indices = [by_number[p] for p in positions]
        sample = load_views(scene, indices, size, centre_crop=True, depth_of=depth_of)
        sample["scene"] = f"{scene.name} #{i}"
        sample["keyframes"] = [keyframe_number(scene.frames[k]) for k in indices]
        samples.append(sample)
    return samples, left_out


def benchmark_samples(
    benchmark: ReconBenchmark,
    root: str | Path,
    size: tuple[int, int],
    stride: int | None = None,
    register_depth: bool = False,
    progress: bool = False,
    seed: int = 0,
    samples: int | None = None,
) -> tuple[list[dict], dict[str, str]]:
    """The samples of a benchmark as views of ``size (H, W)`` with its depth (the dict of ``docs/layout.md``
    plus ``keyframes``, the frame numbers), and the sequences left out, id -> why. A stride benchmark gives
    one sample per sequence, its keyframes (``stride``, None: the benchmark's), and leaves out sequences
    listed by the split but missing from the root or with fewer than 2 keyframes (no pose pair); a window
    benchmark gives ``samples`` samples (None: the benchmark's) drawn with ``seed`` (:func:`window_views`)
    and leaves out sequences shorter than a sample. ``progress`` shows a bar (``muskie.progress``).

    Raises:
        ValueError: no sequence gives a sample; ``stride`` given for a window benchmark or ``samples`` for a
            stride benchmark; a frame without
            depth (7-Scenes without ``depth.proj.png`` and without ``register_depth``).
    """
    depth_of = _depth_reader(benchmark, register_depth)
    if benchmark.window is not None:
        if stride is not None:
            raise ValueError(f"{benchmark.name} draws windows of frames, it has no keyframe stride to override")
        scenes, _ = benchmark_scenes(benchmark, root)
        count = benchmark.samples if samples is None else samples
        return _window_samples(benchmark, scenes, size, depth_of, seed, count, progress)
    if samples is not None:
        raise ValueError(f"{benchmark.name} takes one sample per sequence, it has no sample count to override")
    assert benchmark.stride is not None
    stride = benchmark.stride if stride is None else stride
    scenes, missing = benchmark_scenes(benchmark, root)
    samples, left_out = [], {scene_id: "listed by the split, not in the root" for scene_id in missing}
    for scene in progress_bar(scenes, desc=f"reading {benchmark.title} keyframes", unit="sequence", enabled=progress):
        indices = stride_keyframes(scene.frames, stride)
        if len(indices) < 2:
            left_out[scene.name] = f"{len(indices)} keyframe(s) at stride {stride}"
            continue
        sample = load_views(scene, indices, size, centre_crop=True, depth_of=depth_of)
        sample["keyframes"] = [keyframe_number(scene.frames[i]) for i in indices]
        samples.append(sample)
    if not samples:
        raise ValueError(f"{root}: no {benchmark.title} sequence has 2 keyframes at stride {stride}")
    return samples, left_out


def oracle_prediction(sample: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The ground truth as a prediction: the sample's poses ``(V, 4, 4)`` and its depth lifted to world
    points ``(V, H, W, 3)``. Scored like a model, it must give AUC 100 and zero point errors: a check of the
    data and of the scoring, not of a model."""
    return sample["cam_to_world"].double(), gt_points(sample)[0]


def model_predictor(model: torch.nn.Module, device: str | torch.device = "cpu", precision: str = "fp32") -> Predictor:
    """A reconstruction model as a :data:`Predictor`: all views of a sample in one forward pass on ``device``
    at ``precision`` (``fp32``, or ``bf16`` autocast: :func:`muskie.devices.precision_context`), the cameras
    and points returned as float32 CPU tensors."""
    device = torch.device(device)
    model.eval().to(device)
    precision_context(precision, device)  # an unknown precision fails here, not at the first sample

    @torch.no_grad()
    def predict(sample: dict) -> tuple[torch.Tensor, torch.Tensor]:
        with precision_context(precision, device):
            output = model(sample["images"][None].to(device))
        return output.cam_to_world[0].to("cpu", torch.float32), output.points[0].to("cpu", torch.float32)

    return predict


def _row(rotation: np.ndarray, translation: np.ndarray, point_errors: dict[str, np.ndarray], views: int) -> dict:
    row = {"views": views}
    row.update(pose_metrics(rotation, translation))
    row.update(summarise_pointmap_errors(point_errors))
    return row


def evaluate_benchmark(predict: Predictor, samples: list[dict], progress: bool = False) -> dict:
    """Score every sample (one per sequence) with the shared scoring
    (:func:`muskie.eval.reconstruction.prediction_errors`); ``progress`` shows a bar over the samples
    (``muskie.progress``).

    Returns ``{"scenes": {scene: row}, "mean_over_scenes": row, "pooled": row}``; a row holds ``views``,
    ``pairs``, ``auc@5/15/30`` (percent), median pair errors (degrees), ``accuracy``, ``completeness``,
    ``overall``, ``l1``, their medians and ``normal_consistency`` (metres; NC unitless); scene rows also
    ``keyframes``. ``mean_over_scenes``: each metric's mean over the scene rows; ``pooled``: pairs and
    points of all scenes together.
    """
    rows, rotations, translations, points = {}, [], [], []
    for sample in progress_bar(samples, desc="scoring sequences", unit="sequence", enabled=progress):
        pred_cam_to_world, pred_points = predict(sample)
        errors = prediction_errors(pred_cam_to_world, pred_points, sample, icp_distance=ICP_DISTANCE, normals=True)
        views = len(sample["keyframes"])
        rows[sample["scene"]] = {
            **_row(errors["rotation"], errors["translation"], errors["points"], views),
            "keyframes": sample["keyframes"],
        }
        rotations.append(errors["rotation"])
        translations.append(errors["translation"])
        # float32 keeps the pooled arrays of a dense run (tens of millions of points) affordable
        points.append({key: value.astype(np.float32) for key, value in errors["points"].items()})
    metrics = [key for key in next(iter(rows.values())) if key != "keyframes"]
    mean = {key: float(np.mean([row[key] for row in rows.values()])) for key in metrics}
    pooled = _row(
        np.concatenate(rotations),
        np.concatenate(translations),
        {key: np.concatenate([p[key] for p in points]) for key in points[0]},
        sum(row["views"] for row in rows.values()),
    )
    return {"scenes": rows, "mean_over_scenes": mean, "pooled": pooled}


def benchmark_settings(
    benchmark: ReconBenchmark,
    size: tuple[int, int],
    stride: int | None,
    predictor: str,
    register_depth: bool = False,
    left_out: dict[str, str] | None = None,
    seed: int = 0,
    samples: int | None = None,
) -> dict:
    """Everything a result shares with a published number it is compared with, and the sequences it lacks
    (``left_out``, from :func:`benchmark_samples`)."""
    depth = (
        (
            "colour-registered raw depth.png, registered in memory where depth.proj.png is missing"
            if register_depth
            else "depth.proj.png (colour-registered)"
        )
        if benchmark.dataset_format == "7scenes"
        else "depth/depth<i>.png"
    )
    return {
        "benchmark": benchmark.name,
        "dataset": benchmark.title,
        "format": benchmark.dataset_format,
        "scenes": benchmark.scenes,
        **_selection(benchmark, stride, seed, samples),
        "size": list(size),
        "views": "largest centred crop of the size's aspect, resized (depth: nearest)",
        "depth": f"{depth}; mm -> m; valid within [{DEPTH_RANGE[0]}, {DEPTH_RANGE[1]}] m, 0 and 65535 none",
        "intrinsics": "the dataset's fixed K (7-Scenes fx = fy = 525, c = (320, 240); NRGBD f = 554.256, "
        "c = (319.5, 239.5)), scaled with the crop",
        "pose": "AUC (%) of max(rotation, translation-direction) error over all view pairs of a sample, "
        "1-degree bins, no alignment",
        "points": f"Umeyama similarity on valid pixels, then point-to-point ICP (pairs within {ICP_DISTANCE} m, 30 "
        "iterations, scale kept); metres; NC from "
        f"{NORMAL_NEIGHBOURS}-neighbour normals, mean of both directions",
        "mean_over_scenes": "each sequence's metrics averaged (CUT3R's and pi3's tables)"
        if benchmark.window is None
        else "each sample's metrics averaged (the rows are samples)",
        "pooled": "pose AUC over all samples' pairs together; point metrics over all samples' points",
        "predictor": predictor,
        "left_out": "; ".join(f"{scene_id} ({why})" for scene_id, why in (left_out or {}).items()) or "none",
    }


def _selection(benchmark: ReconBenchmark, stride: int | None, seed: int, samples: int | None) -> dict:
    """How a benchmark chose its views, for the results."""
    if benchmark.window is not None:
        count = benchmark.samples if samples is None else samples
        return {
            "samples": count,
            "samples_note": "the benchmark's"
            if count == benchmark.samples
            else f"overridden: the benchmark's is {benchmark.samples}",
            "selection": f"{count} samples of {benchmark.views} views, sequences in turn: an anchor "
            f"frame drawn uniformly, the others without replacement within {benchmark.window} frame positions "
            f"of it (the release draws with replacement) ({benchmark.source})",
            "seed": seed,
        }
    return {
        "keyframe_stride": benchmark.stride if stride is None else stride,
        "stride_note": f"the benchmark's ({benchmark.source})"
        if stride is None or stride == benchmark.stride
        else f"overridden: the benchmark's is {benchmark.stride} ({benchmark.source})",
    }


def markdown_table(result: dict) -> str:
    """One row per scene, then the mean over scenes and the pooled row."""
    header = ["scene", *(COLUMN_TITLES.get(column, column) for column in TABLE_COLUMNS)]
    rows = [*result["scenes"].items(), ("mean over scenes", result["mean_over_scenes"]), ("pooled", result["pooled"])]
    body = [
        [
            name,
            *(
                format_cell(
                    row.get(column),
                    ".0f" if column in ("views", "pairs") else ".4f" if column in POINT_COLUMNS else ".2f",
                )
                for column in TABLE_COLUMNS
            ),
        ]
        for name, row in rows
    ]
    return report.markdown_table(header, body) + "\n"


def write_benchmark_report(result: dict, settings: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """``out_dir/recon_eval.md`` (the settings, then the table) and ``out_dir/recon_eval.json``
    (``{"settings": ..., "results": result}``)."""
    header = "".join(f"- {key}: {value}\n" for key, value in settings.items())
    return report.write_report(
        out_dir, REPORT_NAME, header + "\n" + markdown_table(result), {"settings": settings, "results": result}
    )
