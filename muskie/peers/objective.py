"""The peers' loss: mean squared error of the masked patches' pixels, per-patch normalised by default
(:func:`muskie.model.patches.patch_targets`), so the loss weighs texture, not brightness."""

from __future__ import annotations

import torch


def masked_patch_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The float32 scalar ``mean over masked patches of mean_k (pred_k - target_k)^2``.

    ``pred``, ``target``: ``(B, V, L, K)`` (any floating dtype, computed in float32, also under autocast);
    ``mask``: ``(B, V, L)`` bool, ``True`` = masked (scored). Visible patches' predictions do not count.
    """
    if pred.shape != target.shape or mask.shape != pred.shape[:3] or mask.dtype != torch.bool:
        raise ValueError(
            f"need pred and target (B, V, L, K) of one shape and a bool mask (B, V, L); got "
            f"{tuple(pred.shape)}, {tuple(target.shape)}, {tuple(mask.shape)} {mask.dtype}"
        )
    with torch.autocast(device_type=pred.device.type, enabled=False):
        weights = mask.float()
        per_patch = (pred.float() - target.float()).square().mean(dim=-1)
        return (per_patch * weights).sum() / weights.sum().clamp(min=1.0)
