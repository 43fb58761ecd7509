"""One multi-view masked image modeling step as one callable: what the training task and the benchmarks run.

For a batch of scenes: shuffle the view order of every scene, draw the reference views and one mask mode
(``muskie.pretraining.masking``), reconstruct every patch with the masked ones replaced by the mask token,
and take the confidence-weighted loss over the masked patches (``muskie.pretraining.objective``). Every
random choice comes from one generator, so a step is reproducible from its seed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from muskie.data.batch import ViewBatch
from muskie.model.patches import patch_targets
from muskie.pretraining.masking import MaskConfig, sample_pretraining_masks
from muskie.pretraining.objective import LossOutput, confidence_weighted_loss
from muskie.train.distributed import unwrap_model


@dataclass
class PretrainingLoss:
    """The loss of one batch (:class:`LossOutput`), its mask mode, and how many views it held."""

    output: LossOutput
    mask_mode: str
    num_views: int


def shuffle_views(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``images (B, V, 3, H, W)`` with the views of each scene in a random order drawn from ``generator``."""
    b, v = images.shape[:2]
    order = torch.argsort(torch.rand(b, v, generator=generator), dim=1)
    return ViewBatch(images=images).permute_views(order).images


def draw_position_shifts(b: int, v: int, largest: int, generator: torch.Generator) -> torch.Tensor | None:
    """``(B, V, 2)`` int64 RoPE position shifts (rows, columns) in whole patch cells, each uniform in
    ``0..largest`` and drawn from ``generator``; None when ``largest`` is 0 (nothing is drawn)."""
    if largest == 0:
        return None
    return torch.randint(0, largest + 1, (b, v, 2), generator=generator)


def pretraining_loss(
    model: torch.nn.Module,
    images: torch.Tensor,
    mask_config: MaskConfig,
    generator: torch.Generator,
    autocast: contextlib.AbstractContextManager | None = None,
    rope_view_shift: int = 0,
    predict_masked_only: bool = False,
    norm_pix_loss: bool = False,
    hide_mask_tokens: bool = False,
) -> PretrainingLoss:
    """The MV-MIM loss of ``images (B, V, 3, H, W)`` in [-1, 1] (any device).

    Args:
        model: a :class:`muskie.model.Muskie` (or a DistributedDataParallel around one).
        mask_config: the mask modes, ratios and reference-view rule.
        generator: a CPU generator; it draws the view order, then the references and masks, then the
            position shifts.
        autocast: the precision context of the forward pass (None: full precision). The loss is always
            computed in float32.
        rope_view_shift: the largest shift, in patch cells, of a view's RoPE positions: every view of every
            scene shifts its patch positions by whole cells drawn uniformly from ``0..rope_view_shift`` along
            rows and columns, independently (see :func:`draw_position_shifts`). 0: the paper's shared
            positions, and nothing more is drawn from ``generator``.
        predict_masked_only: run the pixel head on the masked patches only (``predict_patches`` of
            :meth:`muskie.model.Muskie.forward`), the only ones the loss reads, and take the loss over them:
            the same loss up to the order of float32 sums, without the head and the loss terms of reference
            views and visible patches. False: every patch is predicted, as the model's forward does.
        norm_pix_loss: reconstruct per-patch normalised pixels (:func:`muskie.model.patches.patch_targets`)
            instead of the raw pixels in [-1, 1]; ``masked_mse`` is then in those units too.
        hide_mask_tokens: hide the mask tokens from the registers and visible patches in every attention
            layer (``hide_masked`` of :meth:`muskie.model.MuskieBackbone.forward`): those compute what
            token dropping would, and the mask tokens still attend to every token.
    """
    images = shuffle_views(images, generator)
    patch = unwrap_model(model).config.patch_size
    b, v, _, h, w = images.shape
    masks = sample_pretraining_masks(b, v, h // patch, w // patch, mask_config, generator)
    mask = masks.mask.to(images.device)
    shift = draw_position_shifts(b, v, rope_view_shift, generator)
    shift = None if shift is None else shift.to(images.device)
    target = patch_targets(images, patch, normalize=norm_pix_loss)  # (B, V, L, K) float32
    scored = mask.flatten(2)  # (B, V, L)
    head = {}
    if predict_masked_only:
        # indices from the mask on the host, so no device sync; the masked patches become one (1, 1, M) "view"
        head["predict_patches"] = masks.mask.flatten().nonzero().squeeze(1).to(images.device)
        target = target.flatten(0, 2).index_select(0, head["predict_patches"])[None, None]
        scored = torch.ones(target.shape[:3], dtype=torch.bool, device=images.device)
    with autocast if autocast is not None else contextlib.nullcontext():
        output = model(images, patch_mask=mask, position_shift=shift, hide_masked=hide_mask_tokens, **head)
    pred, confidence = output.pred.float(), output.confidence.float()
    if predict_masked_only:
        pred, confidence = pred[None, None], confidence[None, None]
    result = confidence_weighted_loss(pred, confidence, target, scored)
    return PretrainingLoss(output=result, mask_mode=masks.mode, num_views=b * v)
