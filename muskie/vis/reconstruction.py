"""The reconstruction figure: one row per view of a scene, one column per stage of the reconstruction.

Columns: the input view; the masked input (masked patches grey); the reconstruction (visible patches pasted
from the input, masked ones from the prediction, as in MAE's demo); the raw prediction of every patch; the
confidence (mean over the RGB channels, a viridis-like colour ramp over the fixed range [0, 1], dark = low).
Reference views are labelled. Pillow and numpy only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from muskie.constants import denormalize_image

COLUMNS = ("input", "masked input", "reconstruction", "prediction", "confidence 0..1")
MASK_GREY = (128, 128, 128)
# Views smaller than this (longer side, pixels) are enlarged by an integer factor, nearest neighbour, so
# patches stay crisp squares.
MIN_TILE_SIZE = 192

# Viridis sampled at 0, 0.25, 0.5, 0.75, 1 (dark purple -> blue -> teal -> green -> yellow); linear in
# between is close enough for a confidence map and keeps it monotone in lightness.
_RAMP_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_RAMP_COLORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)

_GAP = 4
_MARGIN = 6
_BACKGROUND = (255, 255, 255)
_INK = (0, 0, 0)
_REFERENCE_LABEL = "reference"


def colorize_confidence(confidence: np.ndarray) -> np.ndarray:
    """Confidence ``(...)`` in [0, 1] (clipped) -> ``(..., 3)`` uint8 RGB on the viridis-like ramp."""
    values = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    channels = [np.interp(values, _RAMP_STOPS, _RAMP_COLORS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def reconstruction_panels(
    images: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor, confidence: torch.Tensor
) -> dict[str, np.ndarray]:
    """The figure's columns before layout: ``{column name: (V, H, W, 3) uint8 RGB}``, keys ``COLUMNS``.

    ``images``, ``pred``: ``(V, 3, H, W)`` in [-1, 1] (predictions are clipped); ``confidence``:
    ``(V, 3, H, W)`` in (0, 1); ``mask``: ``(V, H / p, W / p)`` bool patch grid, ``True`` = masked.
    """
    images, pred, confidence = (
        _to_numpy(x, name) for x, name in ((images, "images"), (pred, "pred"), (confidence, "confidence"))
    )
    mask = _to_numpy(mask, "mask")
    _check_shapes(images, mask, pred, confidence)
    num_views, _, height, width = images.shape
    pixel_mask = mask.repeat(height // mask.shape[1], axis=1).repeat(width // mask.shape[2], axis=2)
    pixel_mask = pixel_mask[..., None]  # (V, H, W, 1)

    inputs = _to_rgb(images)
    predicted = _to_rgb(pred)
    grey = np.array(MASK_GREY, dtype=np.uint8)
    return {
        COLUMNS[0]: inputs,
        COLUMNS[1]: np.where(pixel_mask, grey, inputs),
        COLUMNS[2]: np.where(pixel_mask, predicted, inputs),
        COLUMNS[3]: predicted,
        COLUMNS[4]: colorize_confidence(confidence.mean(axis=1)),
    }


def reconstruction_figure(
    images: torch.Tensor,
    mask: torch.Tensor,
    pred: torch.Tensor,
    confidence: torch.Tensor,
    ref_views: torch.Tensor,
    title: str | None = None,
) -> Image.Image:
    """One scene's reconstruction figure as an RGB ``PIL.Image``: rows = views, columns = ``COLUMNS``.

    ``images``, ``pred``: ``(V, 3, H, W)`` in [-1, 1]; ``mask``: ``(V, H / p, W / p)`` bool, ``True`` =
    masked; ``confidence``: ``(V, 3, H, W)`` in (0, 1); ``ref_views``: ``(V,)`` bool, ``True`` for reference
    views (labelled "reference"). Views whose longer side is under ``MIN_TILE_SIZE`` pixels are enlarged by
    an integer factor (nearest neighbour).
    """
    panels = reconstruction_panels(images, mask, pred, confidence)
    ref_views = _to_numpy(ref_views, "ref_views")
    num_views, height, width = panels[COLUMNS[0]].shape[:3]
    if ref_views.shape != (num_views,) or ref_views.dtype != bool:
        raise ValueError(f"ref_views must be ({num_views},) bool, got {ref_views.shape} {ref_views.dtype}")
    scale = max(1, math.ceil(MIN_TILE_SIZE / max(height, width)))
    tile_h, tile_w = height * scale, width * scale

    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 2
    row_labels = [(f"view {v}", _REFERENCE_LABEL if ref_views[v] else "") for v in range(num_views)]
    # The gutter fits the reference label even where no view is one: same inputs, same layout.
    label_w = max(probe.textlength(text, font=font) for text in (f"view {num_views - 1}", _REFERENCE_LABEL))
    label_w += 2 * _GAP
    top = _MARGIN + (line_h + _GAP if title else 0) + line_h
    left = _MARGIN + int(label_w)
    size = (left + len(COLUMNS) * (tile_w + _GAP) - _GAP + _MARGIN, top + num_views * (tile_h + _GAP) - _GAP + _MARGIN)

    figure = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(figure)
    draw.fontmode = "1"  # no anti-aliasing: text adds only ink-coloured pixels
    if title:
        draw.text((_MARGIN, _MARGIN), title, fill=_INK, font=font)
    for c, name in enumerate(COLUMNS):
        draw.text((left + c * (tile_w + _GAP), top - line_h), name, fill=_INK, font=font)
    for v, (line1, line2) in enumerate(row_labels):
        y = top + v * (tile_h + _GAP)
        draw.text((_MARGIN, y), line1, fill=_INK, font=font)
        draw.text((_MARGIN, y + line_h), line2, fill=_INK, font=font)
        for c, name in enumerate(COLUMNS):
            tile = panels[name][v].repeat(scale, axis=0).repeat(scale, axis=1)
            figure.paste(Image.fromarray(tile), (left + c * (tile_w + _GAP), y))
    return figure


def _to_numpy(x, name: str) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu()
        x = x.float() if x.is_floating_point() else x
        return x.numpy()
    if isinstance(x, np.ndarray):
        return x
    raise ValueError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")


def _to_rgb(x: np.ndarray) -> np.ndarray:
    """``(V, 3, H, W)`` in [-1, 1] -> ``(V, H, W, 3)`` uint8."""
    pixels = np.clip(denormalize_image(x.astype(np.float64)), 0.0, 1.0)
    return np.rint(pixels.transpose(0, 2, 3, 1) * 255).astype(np.uint8)


def _check_shapes(images: np.ndarray, mask: np.ndarray, pred: np.ndarray, confidence: np.ndarray) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (V, 3, H, W), got {images.shape}")
    for name, x in (("pred", pred), ("confidence", confidence)):
        if x.shape != images.shape:
            raise ValueError(f"{name} has shape {x.shape}, images have {images.shape}")
    num_views, _, height, width = images.shape
    if mask.dtype != bool or mask.ndim != 3 or mask.shape[0] != num_views:
        raise ValueError(f"mask must be ({num_views}, grid_h, grid_w) bool, got {mask.shape} {mask.dtype}")
    if height % mask.shape[1] or width % mask.shape[2]:
        raise ValueError(f"mask grid {mask.shape[1:]} does not divide the image size {(height, width)}")
