"""Reconstruction metrics (brief section 5): camera pose AUC and pointmap accuracy / completeness.

Pose. For every unordered pair ``i < j`` of a scene's views, the relative poses ``T_i^-1 T_j`` of the
prediction and the ground truth are compared with no alignment: the rotation error is the geodesic angle
between the relative rotations; the translation error is the angle between the relative translations'
directions, folded to [0, 90] degrees (``min(a, 180 - a)``) as VGGT's and pi3's evaluations do, 90 when a
translation is zero. A pair's error is the larger of the two. ``AUC@T`` (percent) is the mean, over the
thresholds ``t = 1 .. T`` degrees, of the fraction of pairs with error below ``t`` (1-degree bins, the
protocol of the published tables); the pairs of all scenes are pooled.

Pointmaps. The predicted world points of the valid GT pixels are aligned to the GT points by the Umeyama
similarity (pixels give the correspondences), refined by ICP (``muskie.geometry.align``). Then, in GT units:
accuracy = mean distance from each predicted point to the nearest GT point; completeness = mean distance
from each GT point to the nearest predicted point; overall = their mean; L1 = mean over pixels of the L1
norm ``|dx| + |dy| + |dz|`` between a pixel's aligned predicted point and its GT point. Medians of the
accuracy and completeness distances and the normal consistency (the absolute cosine between a point's
normal and its nearest neighbour's, both directions) are what pi3's and CUT3R's tables add.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from muskie.geometry import (
    icp,
    nearest_neighbours,
    point_normals,
    relative_poses,
    rotation_angle,
    umeyama,
    vector_angle,
)

AUC_THRESHOLDS = (5, 15, 30)
# ICP pairs points closer than this fraction of the GT cloud's RMS radius about its centroid.
ICP_DISTANCE_FRACTION = 0.1


def relative_pose_errors(
    pred_cam_to_world: torch.Tensor, gt_cam_to_world: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation and translation-direction errors, degrees, of the ``V (V - 1) / 2`` pairs ``i < j``.

    Args:
        pred_cam_to_world, gt_cam_to_world: ``(V, 4, 4)`` rigid camera-to-world poses, each in its own world
            frame and scale.

    Returns:
        ``(rotation_error, translation_error)``, each ``(P,)`` float64 degrees in row-major pair order.
    """
    if (
        pred_cam_to_world.shape != gt_cam_to_world.shape
        or pred_cam_to_world.shape[-2:] != (4, 4)
        or pred_cam_to_world.dim() != 3
    ):
        raise ValueError(
            f"poses must both have shape (V, 4, 4), got {tuple(pred_cam_to_world.shape)} and "
            f"{tuple(gt_cam_to_world.shape)}"
        )
    num_views = pred_cam_to_world.shape[0]
    pred = relative_poses(pred_cam_to_world.double())
    gt = relative_poses(gt_cam_to_world.double())
    i, j = torch.triu_indices(num_views, num_views, offset=1)
    pred, gt = pred[i, j], gt[i, j]
    rotation = torch.rad2deg(rotation_angle(pred[:, :3, :3], gt[:, :3, :3]))
    pred_t, gt_t = pred[:, :3, 3], gt[:, :3, 3]
    angle = torch.rad2deg(vector_angle(pred_t, gt_t))
    degenerate = (torch.linalg.vector_norm(pred_t, dim=-1) == 0) | (torch.linalg.vector_norm(gt_t, dim=-1) == 0)
    translation = torch.where(degenerate, torch.full_like(angle, 90.0), torch.minimum(angle, 180.0 - angle))
    return rotation, translation


def pose_auc(errors_degrees, threshold: int) -> float:
    """AUC (percent) of pair errors ``(P,)`` in degrees up to ``threshold`` degrees (see the module
    docstring): ``mean_{t=1..T} fraction(error < t)`` over 1-degree bins."""
    errors = np.asarray(errors_degrees, dtype=np.float64).ravel()
    if errors.size == 0:
        raise ValueError("pose_auc needs at least one pair error")
    if threshold < 1 or int(threshold) != threshold:
        raise ValueError(f"threshold must be a positive whole number of degrees, got {threshold}")
    histogram, _ = np.histogram(errors, bins=np.arange(threshold + 1))
    return float(100.0 * np.mean(np.cumsum(histogram) / errors.size))


def pose_metrics(rotation_errors, translation_errors, thresholds=AUC_THRESHOLDS) -> dict[str, float]:
    """``auc@T`` of the pairs' max error for each threshold, plus the pair count and median errors."""
    rotation = np.asarray(rotation_errors, dtype=np.float64)
    translation = np.asarray(translation_errors, dtype=np.float64)
    worst = np.maximum(rotation, translation)
    metrics = {f"auc@{t}": pose_auc(worst, t) for t in thresholds}
    metrics.update(
        pairs=int(worst.size),
        median_rotation_error=float(np.median(rotation)),
        median_translation_error=float(np.median(translation)),
    )
    return metrics


def pointmap_errors(
    pred_points, gt_points, icp_iterations: int = 30, icp_distance: float | None = None, normals: bool = False
) -> dict[str, np.ndarray]:
    """Per-point errors (GT units) of corresponding points ``(N, 3)`` after the alignment of the module
    docstring: ``pred_points`` in any frame and scale; row ``k`` of both is the same pixel.

    ``icp_distance``: ICP pairs points closer than this (GT units; pi3's evaluation: 0.1 m); None: 10% of the
    GT cloud's RMS radius about its centroid. With ``normals``, also the normal consistency of each point with
    its nearest neighbour in the other cloud (:func:`muskie.geometry.point_normals`, 30 neighbours).

    Returns float64 arrays: ``accuracy (N,)`` (each aligned predicted point to its nearest GT point),
    ``completeness (N,)`` (each GT point to its nearest aligned predicted point), ``l1 (N,)``
    (``|dx| + |dy| + |dz|`` per pixel) and with ``normals`` ``normal_accuracy`` / ``normal_completeness``
    (``|n . n'|`` along the same pairs as accuracy / completeness).
    """
    pred = np.asarray(pred_points, dtype=np.float64)
    gt = np.asarray(gt_points, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 3 or len(pred) < 3:
        raise ValueError(f"need corresponding (N, 3) point arrays with N >= 3, got {pred.shape} and {gt.shape}")
    radius = math.sqrt(((gt - gt.mean(0)) ** 2).sum(1).mean())
    if radius == 0:
        raise ValueError("the GT points all coincide")
    if icp_distance is not None and not icp_distance > 0:
        raise ValueError(f"icp_distance must be positive, got {icp_distance}")
    transform = umeyama(pred, gt)
    transform = icp(pred, gt, transform, icp_distance or ICP_DISTANCE_FRACTION * radius, icp_iterations)
    aligned = transform.apply(pred)
    accuracy, to_gt = nearest_neighbours(aligned, gt)
    completeness, to_pred = nearest_neighbours(gt, aligned)
    errors = {"accuracy": accuracy, "completeness": completeness, "l1": np.abs(aligned - gt).sum(1)}
    if normals:
        pred_normals, gt_normals = point_normals(aligned), point_normals(gt)
        errors["normal_accuracy"] = np.abs((pred_normals * gt_normals[to_gt]).sum(1))
        errors["normal_completeness"] = np.abs((gt_normals * pred_normals[to_pred]).sum(1))
    return errors


def summarise_pointmap_errors(errors: dict[str, np.ndarray]) -> dict[str, float]:
    """The pointmap metrics of :func:`pointmap_errors`' arrays (one scene's, or several scenes' concatenated):
    ``accuracy``, ``completeness`` (means), ``overall`` (their mean), ``l1`` (mean), ``accuracy_median``,
    ``completeness_median``, and where normals were measured ``normal_consistency`` (the mean of the two
    directions' means, as pi3 and CUT3R report it) and ``normal_consistency_median`` (the mean of their
    medians)."""
    accuracy, completeness = float(np.mean(errors["accuracy"])), float(np.mean(errors["completeness"]))
    metrics = {
        "accuracy": accuracy,
        "completeness": completeness,
        "overall": (accuracy + completeness) / 2,
        "l1": float(np.mean(errors["l1"])),
        "accuracy_median": float(np.median(errors["accuracy"])),
        "completeness_median": float(np.median(errors["completeness"])),
    }
    if "normal_accuracy" in errors:
        metrics["normal_consistency"] = (
            float(np.mean(errors["normal_accuracy"]) + np.mean(errors["normal_completeness"])) / 2
        )
        metrics["normal_consistency_median"] = (
            float(np.median(errors["normal_accuracy"]) + np.median(errors["normal_completeness"])) / 2
        )
    return metrics


def pointmap_metrics(
    pred_points, gt_points, icp_iterations: int = 30, icp_distance: float | None = None, normals: bool = False
) -> dict[str, float]:
    """Accuracy, completeness, overall and L1 (GT units; means and medians; normal consistency with
    ``normals``) of corresponding points ``(N, 3)``: :func:`summarise_pointmap_errors` of
    :func:`pointmap_errors`."""
    return summarise_pointmap_errors(pointmap_errors(pred_points, gt_points, icp_iterations, icp_distance, normals))
