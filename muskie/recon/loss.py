"""The reconstruction loss (pi3's, brief section 5).

``loss = points + normal_weight * normal + confidence_weight * confidence + camera_weight * camera``.

Scale and frame. Ground truth is normalised per scene: lengths are divided by the scene's mean valid
z-depth over all its views, so GT local points and camera translations are in units of that mean depth.
The prediction keeps its own scale: one factor ``s*`` per scene brings its local points onto the GT's
(the optimal scale below) and also scales its camera translations. The world frame is never compared:
the camera term uses relative poses ``T_i^-1 T_j`` of all ordered pairs ``i != j``, which do not depend on
where either side put its world. Hence scaling the GT (depth and camera translations together) or moving
either side's world by a rigid transform leaves the loss unchanged.

Terms, each averaged per scene over the valid pixels (or pairs), then over scenes:
- points: ``mean_pixels (1/z) * mean_xyz |s* x_pred - x_gt|``, depth-weighted L1 on local points with
  ``z`` the GT depth; ``s*`` minimises the same sum (a weighted median, solved exactly) and is held
  constant: at the minimum the gradient is the same either way.
- normal: the angle (radians) between normals of the predicted and GT local pointmaps, each from the cross
  product of the differences to the right and lower neighbour pixel, where all three pixels are valid.
- confidence: binary cross-entropy of the confidence against "the pixel's point error
  ``(1/z) * mean_xyz |s* x_pred - x_gt|`` is below ``confidence_threshold``".
- camera: geodesic angle (radians) between relative rotations, plus the Huber loss (``huber_delta``,
  averaged over x, y, z) between ``s*``-scaled predicted and GT relative translations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from muskie.geometry import pair_mask, relative_poses, rotation_angle, unproject_depth
from muskie.recon.config import ReconLossConfig


@dataclass
class ReconLoss:
    """The total ``loss`` (scalar, differentiable) and its parts (scalars, detached): ``points``,
    ``normal``, ``confidence``, ``camera``, ``rotation`` (radians), ``translation``; ``scale`` ``(B,)`` the
    optimal scale ``s*`` of each scene."""

    loss: torch.Tensor
    points: torch.Tensor
    normal: torch.Tensor
    confidence: torch.Tensor
    camera: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    scale: torch.Tensor

    def as_dict(self) -> dict[str, float]:
        return {
            name: float(getattr(self, name).detach())
            for name in ("loss", "points", "normal", "confidence", "camera", "rotation", "translation")
        }


def weighted_median_scale(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``s (B,)`` minimising ``sum_k weight_k * |s * pred_k - target_k|`` per row of ``(B, N)`` inputs.

    The sum is ``sum_k weight_k |pred_k| * |s - target_k / pred_k|``: a weighted median of the ratios.
    Entries with zero weight or ``pred == 0`` do not count; a row with nothing that counts gives 1.
    """
    usable = (weight > 0) & (pred != 0)
    safe_pred = torch.where(usable, pred, torch.ones_like(pred))
    ratio = torch.where(usable, target / safe_pred, torch.zeros_like(pred))
    mass = torch.where(usable, weight * pred.abs(), torch.zeros_like(pred))
    ratio, order = ratio.sort(dim=-1)
    cumulative = mass.gather(-1, order).cumsum(dim=-1)
    total = cumulative[..., -1:]
    # the first ratio at which the cumulative weight reaches half the total is a minimiser
    index = (cumulative < 0.5 * total).sum(dim=-1, keepdim=True).clamp(max=ratio.shape[-1] - 1)
    scale = ratio.gather(-1, index)[..., 0]
    return torch.where(total[..., 0] > 0, scale, torch.ones_like(scale))


def normal_map(points: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit normals ``(..., H-1, W-1, 3)`` of a pointmap ``(..., H, W, 3)`` and where they are defined.

    The normal at pixel ``(i, j)`` is ``(p[i, j+1] - p) x (p[i+1, j] - p)``, normalised (pointing away
    from the camera for a surface seen from its front, with OpenCV axes); it is defined where the three
    pixels are ``valid (..., H, W)`` and it is non-zero.
    """
    centre = points[..., :-1, :-1, :]
    normal = torch.cross(points[..., :-1, 1:, :] - centre, points[..., 1:, :-1, :] - centre, dim=-1)
    length = torch.linalg.vector_norm(normal, dim=-1)
    defined = valid[..., :-1, :-1] & valid[..., :-1, 1:] & valid[..., 1:, :-1] & (length > 0)
    normal = normal / torch.where(defined, length, torch.ones_like(length))[..., None]
    return normal, defined


def _masked_mean(values: torch.Tensor, mask: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Mean of ``values`` over ``dims`` where ``mask``; 0 where nothing is masked in."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(dims) / mask.sum(dims).clamp(min=1.0)


def recon_loss(
    local_points: torch.Tensor,
    confidence_logits: torch.Tensor,
    cam_to_world: torch.Tensor,
    depth: torch.Tensor,
    valid: torch.Tensor,
    intrinsics: torch.Tensor,
    gt_cam_to_world: torch.Tensor,
    config: ReconLossConfig | None = None,
) -> ReconLoss:
    """The loss of a batch (see the module docstring).

    Args:
        local_points: ``(B, V, H, W, 3)`` predicted points in each camera's frame (``ReconOutput``).
        confidence_logits: ``(B, V, H, W)``.
        cam_to_world: ``(B, V, 4, 4)`` predicted poses (any world frame).
        depth: ``(B, V, H, W)`` GT z-depth, any unit; valid: ``(B, V, H, W)`` bool.
        intrinsics: ``(B, V, 3, 3)`` GT ``K`` in pixels.
        gt_cam_to_world: ``(B, V, 4, 4)`` GT poses, same unit as ``depth``, OpenCV axes.
        config: term weights and thresholds; None: the defaults.
    """
    config = ReconLossConfig() if config is None else config
    if local_points.dim() != 5 or local_points.shape[-1] != 3:
        raise ValueError(f"local_points must have shape (B, V, H, W, 3), got {tuple(local_points.shape)}")
    if depth.shape != local_points.shape[:-1] or valid.shape != depth.shape:
        raise ValueError(
            f"depth {tuple(depth.shape)} and valid {tuple(valid.shape)} must have shape "
            f"{tuple(local_points.shape[:-1])} (B, V, H, W) of the prediction"
        )
    b, v = depth.shape[:2]
    local_points = local_points.float()
    valid = valid & (depth > 0)
    depth = depth.float()
    mean_depth = _masked_mean(depth, valid, (1, 2, 3)).clamp(min=1e-12)  # (B,)
    norm = mean_depth.view(b, 1, 1, 1)
    gt_depth = depth / norm
    identity = torch.eye(4, dtype=depth.dtype, device=depth.device)
    gt_local = unproject_depth(gt_depth, intrinsics.float(), identity)  # (B, V, H, W, 3)

    inverse_depth = torch.where(valid, 1.0 / gt_depth.clamp(min=1e-12), torch.zeros_like(gt_depth))
    weight = inverse_depth[..., None].expand_as(gt_local)
    with torch.no_grad():
        scale = weighted_median_scale(local_points.flatten(1), gt_local.flatten(1), weight.flatten(1))  # (B,)
    scaled = local_points * scale.view(b, 1, 1, 1, 1)
    pixel_error = inverse_depth * (scaled - gt_local).abs().mean(-1)  # (B, V, H, W)
    points_term = _masked_mean(pixel_error, valid, (1, 2, 3)).mean()

    pred_normal, pred_defined = normal_map(local_points, torch.ones_like(valid))
    gt_normal, gt_defined = normal_map(gt_local, valid)
    angle = torch.atan2(
        torch.linalg.vector_norm(torch.cross(pred_normal, gt_normal, dim=-1), dim=-1), (pred_normal * gt_normal).sum(-1)
    )
    normal_term = _masked_mean(angle, pred_defined & gt_defined, (1, 2, 3)).mean()

    confident = (pixel_error.detach() < config.confidence_threshold).float()
    bce = F.binary_cross_entropy_with_logits(confidence_logits.float(), confident, reduction="none")
    confidence_term = _masked_mean(bce, valid, (1, 2, 3)).mean()

    pairs = pair_mask(v, device=depth.device).expand(b, v, v)
    pred_relative = relative_poses(cam_to_world.float())
    gt_relative = relative_poses(gt_cam_to_world.float())
    rotation = rotation_angle(pred_relative[..., :3, :3], gt_relative[..., :3, :3])  # (B, V, V)
    pred_translation = pred_relative[..., :3, 3] * scale.view(b, 1, 1, 1)
    gt_translation = gt_relative[..., :3, 3] / mean_depth.view(b, 1, 1, 1)
    huber = F.huber_loss(pred_translation, gt_translation, reduction="none", delta=config.huber_delta).mean(-1)
    rotation_term = _masked_mean(rotation, pairs, (1, 2)).mean()
    translation_term = _masked_mean(huber, pairs, (1, 2)).mean()
    camera_term = rotation_term + translation_term

    total = (
        points_term
        + config.normal_weight * normal_term
        + config.confidence_weight * confidence_term
        + config.camera_weight * camera_term
    )
    return ReconLoss(
        loss=total,
        points=points_term.detach(),
        normal=normal_term.detach(),
        confidence=confidence_term.detach(),
        camera=camera_term.detach(),
        rotation=rotation_term.detach(),
        translation=translation_term.detach(),
        scale=scale,
    )
