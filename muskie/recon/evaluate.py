"""Evaluating a reconstruction model on scenes with known cameras: pose AUC, and pointmap metrics where
depth is known (``muskie.recon.metrics``); tables as markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from muskie.data.sources import load_scenes
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import MultiViewDataset, ViewRequest, collate_views
from muskie.geometry import unproject_depth
from muskie.recon.metrics import AUC_THRESHOLDS, pointmap_metrics, pose_metrics, relative_pose_errors
from muskie.recon.model import ReconModel

POINT_METRICS = ("accuracy", "completeness", "overall", "l1")
ANGLE_COLUMNS = ("median_rotation_error", "median_gt_rotation", "median_translation_error")
TABLE_COLUMNS = tuple(f"auc@{t}" for t in AUC_THRESHOLDS) + ANGLE_COLUMNS + POINT_METRICS
COLUMN_TITLES = {"median_rotation_error": "rot err (deg)", "median_gt_rotation": "same-pose rot err (deg)",
                 "median_translation_error": "dir err (deg)"}
MARKDOWN_NAME = "recon_eval.md"
JSON_NAME = "recon_eval.json"


def evaluation_dataset(source: str, synthetic_path: str = "rig", synthetic_scenes: int = 16,
                       synthetic_split: str = "test") -> Dataset:
    """``"synthetic"``: the held-out ``synthetic_split`` (``"test"``, or ``"val"`` for choosing settings;
    ``synthetic_scenes`` scenes, camera path ``synthetic_path``);
    otherwise the scenes at ``source`` (a folder, dataset root or manifest), which must have cameras. Views
    are the largest centred-aspect crop, no random scale."""
    if source == "synthetic":
        return SyntheticViewDataset(split=synthetic_split, config=SyntheticConfig(camera_path=synthetic_path),
                                    num_scenes=synthetic_scenes)
    scenes = load_scenes(source)
    lacking = [s.name for s in scenes if not s.has_cameras]
    if lacking:
        raise ValueError(f"{source}: evaluation needs cameras; scenes without them: {', '.join(lacking[:5])}")
    return MultiViewDataset(scenes, crop_scale=(1.0, 1.0), skip_bad=False)


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
) -> dict:
    """Score ``num_samples`` samples of ``num_views`` views at ``size`` = (H, W) (sample ``k``: scene
    ``k % len(dataset)``, seed ``seed + k``).

    Returns a dict: ``samples``, ``views``, ``size``; ``auc@5/15/30`` (percent, all samples' pairs pooled),
    ``pairs``, ``median_rotation_error`` and ``median_translation_error`` (degrees), ``median_gt_rotation``
    (degrees: the median relative rotation of the GT pairs, which is the rotation error of a model that gives
    every view the same pose; its translation errors are 90, so its AUCs are 0); and when the samples
    have depth ``accuracy``, ``completeness``, ``overall``, ``l1`` (GT units, mean over samples), else None.
    """
    if num_samples < 1 or num_views < 2 or batch_size < 1:
        raise ValueError(f"need num_samples >= 1, num_views >= 2 (poses are pairs), batch_size >= 1; got "
                         f"{num_samples}, {num_views}, {batch_size}")
    patch = model.backbone.config.patch_size
    if size[0] % patch or size[1] % patch:
        raise ValueError(f"size {size[0]}x{size[1]} is not a multiple of the model's patch size {patch}")
    model.eval().to(device)
    requests = [ViewRequest(k % len(dataset), num_views, size[0], size[1], seed + k) for k in range(num_samples)]
    rotation_errors, translation_errors, gt_rotations, point_scores = [], [], [], []
    for start in range(0, num_samples, batch_size):
        batch = collate_views([dataset[r] for r in requests[start:start + batch_size]])
        if "cam_to_world" not in batch:
            raise ValueError("evaluation samples lack cameras")
        output = model(batch["images"].to(device))
        for i in range(batch["images"].shape[0]):
            rotation, translation = relative_pose_errors(output.cam_to_world[i].cpu(), batch["cam_to_world"][i])
            rotation_errors.append(rotation.numpy())
            translation_errors.append(translation.numpy())
            same_pose = torch.eye(4, dtype=torch.float64).expand(num_views, 4, 4)
            gt_rotations.append(relative_pose_errors(same_pose, batch["cam_to_world"][i])[0].numpy())
            if "depth" in batch:
                point_scores.append(_pointmap_scores(output.points[i].cpu(), batch, i))
    result = {"samples": num_samples, "views": num_views, "size": list(size)}
    result.update(pose_metrics(np.concatenate(rotation_errors), np.concatenate(translation_errors)))
    result["median_gt_rotation"] = float(np.median(np.concatenate(gt_rotations)))
    for name in POINT_METRICS:
        result[name] = float(np.mean([s[name] for s in point_scores])) if point_scores else None
    return result


def _pointmap_scores(pred_points: torch.Tensor, batch: dict, index: int) -> dict:
    valid = batch["valid"][index] & (batch["depth"][index] > 0)
    gt = unproject_depth(batch["depth"][index].double(), batch["intrinsics"][index].double(),
                         batch["cam_to_world"][index].double())
    return pointmap_metrics(pred_points.double()[valid].numpy(), gt[valid].numpy())


def markdown_table(results: dict[str, dict]) -> str:
    """A markdown table, one row per evaluation set: pose AUCs (percent), median pair errors (degrees) and
    pointmap metrics (GT units; n/a without depth)."""
    titles = [COLUMN_TITLES.get(column, column) for column in TABLE_COLUMNS]
    lines = ["| data | samples | views | size | " + " | ".join(titles) + " |",
             "|---|---|---|---|" + "---|" * len(TABLE_COLUMNS)]
    for name, row in results.items():
        cells = []
        for column in TABLE_COLUMNS:
            value = row.get(column)
            cells.append("n/a" if value is None else f"{value:.4f}" if column in POINT_METRICS else f"{value:.2f}")
        size = "x".join(str(s) for s in row["size"])
        lines.append(f"| {name} | {row['samples']} | {row['views']} | {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(results: dict[str, dict], out_dir: str | Path, meta: dict | None = None) -> tuple[Path, Path]:
    """Write ``out_dir/recon_eval.md`` (the table) and ``out_dir/recon_eval.json`` (``{"meta": ...,
    "results": {name: row}}``); returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / MARKDOWN_NAME
    header = "".join(f"- {key}: {value}\n" for key, value in (meta or {}).items())
    markdown.write_text(header + ("\n" if header else "") + markdown_table(results))
    json_path = out_dir / JSON_NAME
    json_path.write_text(json.dumps({"meta": meta or {}, "results": results}, indent=2))
    return markdown, json_path
