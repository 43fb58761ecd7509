"""Evaluating a reconstruction model on scenes with known cameras: pose AUC, and pointmap metrics where
depth is known (``muskie.eval.reconstruction_metrics``); tables as markdown and JSON."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from muskie import report
from muskie.data.datasets import evaluation_batches, open_view_dataset
from muskie.devices import precision_context
from muskie.eval.reconstruction_metrics import (
    AUC_THRESHOLDS,
    pointmap_errors,
    pose_metrics,
    relative_pose_errors,
    summarise_pointmap_errors,
)
from muskie.geometry import unproject_depth
from muskie.progress import progress_bar
from muskie.recon.model import ReconModel
from muskie.report import format_cell

POINT_METRICS = ("accuracy", "completeness", "overall", "l1")
ANGLE_COLUMNS = ("median_rotation_error", "median_gt_rotation", "median_translation_error")
TABLE_COLUMNS = tuple(f"auc@{t}" for t in AUC_THRESHOLDS) + ANGLE_COLUMNS + POINT_METRICS
COLUMN_TITLES = {
    "median_rotation_error": "rot err (deg)",
    "median_gt_rotation": "same-pose rot err (deg)",
    "median_translation_error": "dir err (deg)",
}
REPORT_NAME = "recon_eval"  # recon_eval.md and recon_eval.json


def evaluation_dataset(
    source: str, synthetic_path: str = "rig", synthetic_scenes: int = 16, synthetic_split: str = "test"
) -> Dataset:
    """``"synthetic"``: the held-out ``synthetic_split`` (``"test"``, or ``"val"`` for choosing settings;
    ``synthetic_scenes`` scenes, camera path ``synthetic_path``);
    otherwise the scenes at ``source`` (a folder, dataset root or manifest), which must have cameras. Views
    are the largest centred-aspect crop, no random scale."""
    return open_view_dataset(
        source,
        split=synthetic_split,
        synthetic_path=synthetic_path,
        synthetic_scenes=synthetic_scenes,
        crop_scale=(1.0, 1.0),
        skip_bad=False,
        require=("cameras",),
    )


@torch.no_grad()
def evaluate_recon(
    model: ReconModel,
    dataset: Dataset,
    num_samples: int,
    num_views: int,
    size: tuple[int, int],
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    progress: bool = False,
    desc: str = "scoring samples",
    precision: str = "fp32",
) -> dict:
    """Score ``num_samples`` samples of ``num_views`` views at ``size`` = (H, W) (sample ``k``: scene
    ``k % len(dataset)``, seed ``seed + k``).

    Returns a dict: ``samples``, ``views``, ``size``; ``auc@5/15/30`` (percent, all samples' pairs pooled),
    ``pairs``, ``median_rotation_error`` and ``median_translation_error`` (degrees), ``median_gt_rotation``
    (degrees: the median relative rotation of the GT pairs, which is the rotation error of a model that gives
    every view the same pose; its translation errors are 90, so its AUCs are 0); and when the samples
    have depth ``accuracy``, ``completeness``, ``overall``, ``l1`` (GT units, mean over samples), else None.
    ``progress`` shows a bar over the batches, titled ``desc`` (``muskie.progress``). The model runs at
    ``precision`` (``fp32``, or ``bf16`` autocast: :func:`muskie.devices.precision_context`); its cameras
    and points are scored in float64 either way.
    """
    if num_samples < 1 or num_views < 2 or batch_size < 1:
        raise ValueError(
            f"need num_samples >= 1, num_views >= 2 (poses are pairs), batch_size >= 1; got "
            f"{num_samples}, {num_views}, {batch_size}"
        )
    patch = model.patch_size
    if size[0] % patch or size[1] % patch:
        raise ValueError(f"size {size[0]}x{size[1]} is not a multiple of the model's patch size {patch}")
    device = torch.device(device)
    model.eval().to(device)
    rotation_errors, translation_errors, gt_rotations, point_scores = [], [], [], []
    batches = evaluation_batches(dataset, num_samples, num_views, size, seed, batch_size)
    for batch in progress_bar(
        batches, total=math.ceil(num_samples / batch_size), desc=desc, unit="batch", enabled=progress
    ):
        if not batch.has_cameras:
            raise ValueError("evaluation samples lack cameras")
        with precision_context(precision, device):
            output = model(batch.images.to(device))
        for i in range(batch.num_scenes):
            gt = {"cam_to_world": batch.cam_to_world[i], "intrinsics": batch.intrinsics[i]}
            if batch.has_depth:
                gt.update(depth=batch.depth[i], valid=batch.valid[i])
            cam_to_world, points = (
                output.cam_to_world[i].to("cpu", torch.float32),
                output.points[i].to("cpu", torch.float32),
            )
            errors = prediction_errors(cam_to_world, points, gt)
            rotation_errors.append(errors["rotation"])
            translation_errors.append(errors["translation"])
            same_pose = torch.eye(4, dtype=torch.float64).expand(num_views, 4, 4)
            gt_rotations.append(relative_pose_errors(same_pose, batch.cam_to_world[i])[0].numpy())
            if "points" in errors:
                point_scores.append(summarise_pointmap_errors(errors["points"]))
    result = {"samples": num_samples, "views": num_views, "size": list(size)}
    result.update(pose_metrics(np.concatenate(rotation_errors), np.concatenate(translation_errors)))
    result["median_gt_rotation"] = float(np.median(np.concatenate(gt_rotations)))
    for name in POINT_METRICS:
        result[name] = float(np.mean([s[name] for s in point_scores])) if point_scores else None
    return result


def gt_points(gt: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The ground truth's world points ``(V, H, W, 3)`` float64 and where they are valid ``(V, H, W)`` bool,
    from ``gt``'s ``depth (V, H, W)``, ``valid``, ``intrinsics (V, 3, 3)`` and ``cam_to_world (V, 4, 4)``."""
    points = unproject_depth(gt["depth"].double(), gt["intrinsics"].double(), gt["cam_to_world"].double())
    return points, gt["valid"] & (gt["depth"] > 0)


def prediction_errors(
    pred_cam_to_world: torch.Tensor,
    pred_points: torch.Tensor,
    gt: dict,
    icp_distance: float | None = None,
    normals: bool = False,
) -> dict:
    """The errors of one sample's reconstruction, the scoring every evaluation here shares.

    Args:
        pred_cam_to_world: ``(V, 4, 4)`` predicted camera-to-world poses (any world frame and scale).
        pred_points: ``(V, H, W, 3)`` predicted world points.
        gt: the sample's ground truth: ``cam_to_world (V, 4, 4)``, ``intrinsics (V, 3, 3)`` and, to score
            points, ``depth (V, H, W)`` (z-depth, 0 = none) and ``valid (V, H, W)`` bool.
        icp_distance, normals: see :func:`muskie.eval.reconstruction_metrics.pointmap_errors`.

    Returns:
        ``rotation``, ``translation``: ``(P,)`` float64 degrees of the ``V (V - 1) / 2`` pairs
        (:func:`relative_pose_errors`); with depth, ``points``: :func:`pointmap_errors`' arrays over the
        valid pixels.
    """
    rotation, translation = relative_pose_errors(pred_cam_to_world, gt["cam_to_world"])
    errors = {"rotation": rotation.numpy(), "translation": translation.numpy()}
    if "depth" in gt:
        points, valid = gt_points(gt)
        errors["points"] = pointmap_errors(
            pred_points.double()[valid].numpy(), points[valid].numpy(), icp_distance=icp_distance, normals=normals
        )
    return errors


def markdown_table(results: dict[str, dict]) -> str:
    """A markdown table, one row per evaluation set: pose AUCs (percent), median pair errors (degrees) and
    pointmap metrics (GT units; n/a without depth)."""
    header = ["data", "samples", "views", "size", *(COLUMN_TITLES.get(column, column) for column in TABLE_COLUMNS)]
    rows = [
        [
            name,
            row["samples"],
            row["views"],
            "x".join(str(s) for s in row["size"]),
            *(format_cell(row.get(column), ".4f" if column in POINT_METRICS else ".2f") for column in TABLE_COLUMNS),
        ]
        for name, row in results.items()
    ]
    return report.markdown_table(header, rows) + "\n"


def write_tables(results: dict[str, dict], out_dir: str | Path, meta: dict | None = None) -> tuple[Path, Path]:
    """Write ``out_dir/recon_eval.md`` (the settings, then the table) and ``out_dir/recon_eval.json``
    (``{"meta": ..., "results": {name: row}}``); returns both paths."""
    header = "".join(f"- {key}: {value}\n" for key, value in (meta or {}).items())
    return report.write_report(
        out_dir,
        REPORT_NAME,
        header + ("\n" if header else "") + markdown_table(results),
        {"meta": meta or {}, "results": results},
    )
