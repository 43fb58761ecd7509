"""Masked-view reconstruction error: does the model use the reference views?

For each scene the first ``num_ref`` views are references (fully visible) and the other views are masked
with one mask mode. The masked pixels' mean squared error (pixels in [0, 1]) is measured four ways:

- ``with_refs``: the model sees the references and the masked views (the pre-training setting);
- ``without_refs``: the same masked views, references removed from the input;
- ``other_scene_refs``: the references of another scene of the batch (a control: copying from unrelated
  views must not help); skipped for batches where the neighbouring sample is of the same scene;
- ``fill``: no model; each masked patch is filled with the mean colour of its view's visible pixels (what
  the masked input alone says).

A model that finds masked content in the references scores ``with_refs`` clearly below ``without_refs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from muskie import report
from muskie.constants import denormalize_image
from muskie.data.batch import ViewBatch
from muskie.model.patches import patchify, unpatchify
from muskie.pretraining.masking import MaskConfig, sample_patch_masks

SETTINGS = ("with_refs", "without_refs", "other_scene_refs", "fill")


@dataclass
class ReconstructionPass:
    """One batch's inputs and outputs, in model units; used for figures.

    images ``(B, V, 3, H, W)`` in [-1, 1]; mask ``(B, V, gh, gw)`` bool (references all False);
    pred ``(B, V, 3, H, W)`` in [-1, 1] and confidence ``(B, V, 3, H, W)`` in (0, 1) with references in the
    input; ``num_ref`` references first.
    """

    images: torch.Tensor
    mask: torch.Tensor
    pred: torch.Tensor
    confidence: torch.Tensor
    num_ref: int


@dataclass
class ReconstructionScores:
    """Masked-pixel MSE per setting (pixels in [0, 1]) summed over batches; ``mean()`` gives the averages."""

    sums: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in SETTINGS})
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SETTINGS})
    scenes: int = 0

    def add(self, setting: str, squared_error_sum: float, count: int) -> None:
        self.sums[setting] += squared_error_sum
        self.counts[setting] += count

    def mean(self) -> dict[str, float]:
        return {s: (self.sums[s] / self.counts[s] if self.counts[s] else float("nan")) for s in SETTINGS}


def _masked_squared_error(pred: torch.Tensor, images: torch.Tensor, mask: torch.Tensor, patch: int):
    """Sum of squared errors in [0, 1] pixel units over masked patches, and the number of values summed."""
    err = (denormalize_image(pred.float()) - denormalize_image(images.float())) ** 2
    err = patchify(err, patch)  # (B, V, L, 3 p^2)
    selected = err[mask.flatten(2)]
    return float(selected.sum()), selected.numel()


def _fill_prediction(images: torch.Tensor, mask: torch.Tensor, patch: int) -> torch.Tensor:
    """Masked patches filled with each view's mean visible colour ``(B, V, 3, H, W)``."""
    patches = patchify(images, patch)  # (B, V, L, 3 p^2)
    b, v, n, k = patches.shape  # n = L patches per view
    per_channel = patches.view(b, v, n, 3, k // 3)
    visible = (~mask.flatten(2)).float()[..., None, None]  # (B, V, L, 1, 1)
    count = visible.flatten(2).sum(dim=2, keepdim=True) * (k // 3)  # (B, V, 1)
    mean = (per_channel * visible).sum(dim=(2, 4)) / count.clamp(min=1)  # (B, V, 3)
    filled = torch.where(visible.bool(), per_channel, mean[:, :, None, :, None].expand_as(per_channel))
    return unpatchify(filled.reshape(b, v, n, k), patch, images.shape[-2], images.shape[-1])


@torch.no_grad()
def evaluate_reconstruction(
    model,
    batches: Iterable[ViewBatch],
    num_ref: int,
    mask_mode: str,
    mask_config: MaskConfig | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    keep_passes: int = 0,
) -> tuple[ReconstructionScores, list[ReconstructionPass]]:
    """Score masked-view reconstruction on ``batches`` (``ViewBatch``es of images in [-1, 1]).

    Args:
        model: a :class:`muskie.model.Muskie` (eval mode is set here).
        num_ref: references per scene, ``0 <= num_ref < V``; the first ``num_ref`` views of each scene.
        mask_mode: how the other views are masked, with the ratio and shape settings of ``mask_config``
            (default :class:`muskie.pretraining.masking.MaskConfig`).
        seed: seeds the masks, so two models are scored on identical masks.
        keep_passes: how many batches' inputs/outputs to return for figures.
    Returns:
        the scores and up to ``keep_passes`` :class:`ReconstructionPass` records (on the CPU).
    """
    mask_config = MaskConfig() if mask_config is None else mask_config
    model.eval()
    patch = model.config.patch_size
    scores = ReconstructionScores()
    passes: list[ReconstructionPass] = []
    generator = torch.Generator().manual_seed(seed)
    for batch in batches:
        images = batch.images.to(device)
        b, v, _, h, w = images.shape
        if not 0 <= num_ref < v:
            raise ValueError(f"num_ref must be in [0, {v - 1}] for {v} views, got {num_ref}")
        masked = sample_patch_masks(
            b * (v - num_ref),
            h // patch,
            w // patch,
            mask_mode,
            mask_config.ratio(mask_mode),
            aspect_range=mask_config.aspect_range,
            blob_sigma=mask_config.blob_sigma,
            generator=generator,
        )
        masked = masked.view(b, v - num_ref, h // patch, w // patch).to(device)
        mask = torch.cat([torch.zeros_like(masked[:, :num_ref]), masked], dim=1)
        target = images[:, num_ref:]

        out = model(images, patch_mask=mask)
        pred = unpatchify(out.pred, patch, h, w)
        scores.add("with_refs", *_masked_squared_error(pred[:, num_ref:], target, masked, patch))

        alone = model(target, patch_mask=masked)
        scores.add("without_refs", *_masked_squared_error(unpatchify(alone.pred, patch, h, w), target, masked, patch))

        names = batch.scenes
        rolled_is_other = b > 1 and (not names or all(names[i] != names[i - 1] for i in range(b)))
        if num_ref > 0 and rolled_is_other:
            swapped = torch.cat([images[:, :num_ref].roll(1, dims=0), target], dim=1)
            other = unpatchify(model(swapped, patch_mask=mask).pred, patch, h, w)
            scores.add("other_scene_refs", *_masked_squared_error(other[:, num_ref:], target, masked, patch))

        scores.add("fill", *_masked_squared_error(_fill_prediction(target, masked, patch), target, masked, patch))
        scores.scenes += b
        if len(passes) < keep_passes:
            confidence = unpatchify(out.confidence, patch, h, w)
            passes.append(ReconstructionPass(images.cpu(), mask.cpu(), pred.cpu(), confidence.cpu(), num_ref))
    return scores, passes


def markdown_table(results: dict[str, dict[str, float | None]]) -> str:
    """One row per mask mode, one column per setting (:data:`SETTINGS`), masked-pixel MSE in [0, 1] units."""
    rows = [[mode, *(report.format_cell(values[s], ".5f") for s in SETTINGS)] for mode, values in results.items()]
    return report.markdown_table(["mode", *SETTINGS], rows)
