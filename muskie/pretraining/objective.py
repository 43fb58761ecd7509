"""The confidence-weighted reconstruction loss of multi-view masked image modeling.

Over the masked patches ``M`` and the ``K = 3 * p * p`` values of a patch (prediction ``x^``, target ``x``,
pixels in [-1, 1], confidence ``c`` in (0, 1)):

    loss = mean_M [ mean_k (c_k + conf_offset) * (x^_k - x_k)^2 ] + conf_weight * mean_M [ mean_k -log c_k ]

with ``conf_offset = conf_weight = 0.1`` in the paper. For a value with squared error ``e`` the loss is
smallest at ``c = conf_weight / e`` (the offset only keeps a floor under the reconstruction weight): a low
confidence marks what the model could not find in the other views. Both terms average over the masked
patches only (the release averages the second over all patches).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# -log c is taken of max(c, LOG_FLOOR): a saturated sigmoid (c == 0 in float32, sooner in bf16) would
# otherwise give an infinite loss and NaN gradients. The optimum c = conf_weight / e is at least
# 0.1 / 4 = 0.025 for predictions inside [-1, 1], so the floor never binds near it.
LOG_FLOOR = 1e-6


@dataclass
class LossOutput:
    """The loss of one batch and its parts, all float32 scalars.

    ``loss = reconstruction + conf_weight * confidence_penalty`` (differentiable);
    ``reconstruction``: the confidence-weighted squared error, mean over masked patches (differentiable);
    ``confidence_penalty``: ``mean_k -log c_k``, mean over masked patches, unweighted (differentiable);
    ``masked_mse``: the plain mean squared error on masked patches in [-1, 1] units, detached, for logging.
    """

    loss: torch.Tensor
    reconstruction: torch.Tensor
    confidence_penalty: torch.Tensor
    masked_mse: torch.Tensor


def confidence_weighted_loss(
    pred: torch.Tensor,
    confidence: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    conf_weight: float = 0.1,
    conf_offset: float = 0.1,
) -> LossOutput:
    """The MV-MIM loss averaged over the masked patches of all views of all scenes.

    ``pred``, ``confidence``, ``target``: ``(B, V, L, K)`` float (any floating dtype; computed in float32,
    also under autocast), ``K = 3 * p * p`` values of a patch, pixels in [-1, 1], ``confidence`` in (0, 1);
    ``mask``: ``(B, V, L)`` bool, ``True`` = masked (scored). Reference views simply have no masked patch.

    With no masked patch at all every part is a float32 zero that is still connected to ``pred`` and
    ``confidence`` (zero gradients), so ``backward()`` and distributed gradient reduction work as usual.
    """
    _check_inputs(pred, confidence, target, mask, conf_weight, conf_offset)
    with torch.autocast(device_type=pred.device.type, enabled=False):
        pred, confidence, target = pred.float(), confidence.float(), target.float()
        weights = mask.float()
        # Weighted sums rather than boolean indexing: no host sync, and the graph survives an empty mask.
        count = weights.sum().clamp(min=1.0)

        squared_error = (pred - target).square()
        per_patch = ((confidence + conf_offset) * squared_error).mean(-1)
        reconstruction = (per_patch * weights).sum() / count
        neg_log = -torch.log(confidence.clamp(min=LOG_FLOOR)).mean(-1)
        confidence_penalty = (neg_log * weights).sum() / count
        loss = reconstruction + conf_weight * confidence_penalty
        masked_mse = (squared_error.detach().mean(-1) * weights).sum() / count
    return LossOutput(
        loss=loss, reconstruction=reconstruction, confidence_penalty=confidence_penalty, masked_mse=masked_mse
    )


def _check_inputs(pred, confidence, target, mask, conf_weight, conf_offset) -> None:
    if pred.ndim != 4:
        raise ValueError(f"pred must be (B, V, L, K), got shape {tuple(pred.shape)}")
    for name, tensor in (("confidence", confidence), ("target", target)):
        if tensor.shape != pred.shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, pred has {tuple(pred.shape)}")
    for name, tensor in (("pred", pred), ("confidence", confidence), ("target", target)):
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
    if mask.shape != pred.shape[:3]:
        raise ValueError(f"mask must be (B, V, L) = {tuple(pred.shape[:3])}, got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool (True = masked), got {mask.dtype}")
    if conf_weight < 0 or conf_offset < 0:
        raise ValueError(f"conf_weight and conf_offset must be >= 0, got {conf_weight}, {conf_offset}")
