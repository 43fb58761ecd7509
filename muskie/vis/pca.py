"""Feature PCA: the first three principal components of several views' features, as RGB.

The components are fitted jointly over the patches of all views, so a 3D point whose features agree across
views gets the same colour in every view: consistent colours mean multi-view consistent features. Each
component is mapped to [0, 1] between its 1st and 99th percentile over all views, and its sign is fixed
(the loading of largest magnitude positive) so that a figure does not flip colours between runs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from muskie.constants import denormalize_image

MIN_TILE_SIZE = 128
LOW_QUANTILE, HIGH_QUANTILE = 0.01, 0.99
_GAP = 4
_MARGIN = 6
_BACKGROUND = (255, 255, 255)
_INK = (0, 0, 0)


def pca_rgb(features: torch.Tensor) -> torch.Tensor:
    """``(V, h, w, 3)`` float32 in [0, 1]: the first three principal components of ``features (V, h, w, C)``
    fitted over all ``V*h*w`` cells together (components beyond ``C`` or the data's rank are 0.5)."""
    if features.dim() != 4:
        raise ValueError(f"features must be (V, h, w, C), got {tuple(features.shape)}")
    x = features.detach().double().reshape(-1, features.shape[-1])
    x = x - x.mean(dim=0)
    _, _, vt = torch.linalg.svd(x, full_matrices=False)
    components = vt[:3]
    signs = torch.sign(components.gather(1, components.abs().argmax(dim=1, keepdim=True)))
    projected = x @ (components * torch.where(signs == 0, 1.0, signs)).T  # (N, k), k <= 3
    low = torch.quantile(projected, LOW_QUANTILE, dim=0)
    high = torch.quantile(projected, HIGH_QUANTILE, dim=0)
    span = high - low
    scaled = torch.where(span > 1e-12, (projected - low) / span.clamp(min=1e-12), torch.full_like(projected, 0.5))
    rgb = torch.full((x.shape[0], 3), 0.5, dtype=torch.float64)
    rgb[:, : scaled.shape[1]] = scaled.clamp(0, 1)
    return rgb.reshape(*features.shape[:3], 3).float()


def pca_figure(images: torch.Tensor, rows: list[tuple[str, torch.Tensor]], title: str | None = None) -> Image.Image:
    """The PCA figure as an RGB ``PIL.Image``: the views in the first row, then one row per backbone.

    Args:
        images: ``(V, 3, H, W)`` in [-1, 1].
        rows: ``(backbone name, rgb (V, h, w, 3) in [0, 1])`` from :func:`pca_rgb`; each grid is enlarged
            (nearest neighbour) to the image's tile size, so cells show as squares of their image area.
        title: drawn above the panels.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (V, 3, H, W), got {tuple(images.shape)}")
    num_views, _, height, width = images.shape
    scale = max(1, math.ceil(MIN_TILE_SIZE / max(height, width)))
    tile_h, tile_w = height * scale, width * scale
    panels = [
        (
            "images",
            np.rint(
                denormalize_image(images.detach().cpu().double()).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255
            ).astype(np.uint8),
        )
    ]
    for name, rgb in rows:
        if rgb.dim() != 4 or rgb.shape[0] != num_views or rgb.shape[-1] != 3:
            raise ValueError(f"row {name!r}: rgb must be ({num_views}, h, w, 3), got {tuple(rgb.shape)}")
        panels.append((name, np.rint(rgb.detach().cpu().double().clamp(0, 1).numpy() * 255).astype(np.uint8)))

    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 2
    label_w = int(max(probe.textlength(name, font=font) for name, _ in panels)) + 2 * _GAP
    top = _MARGIN + (line_h + _GAP if title else 0)
    left = _MARGIN + label_w
    size = (left + num_views * (tile_w + _GAP) - _GAP + _MARGIN, top + len(panels) * (tile_h + _GAP) - _GAP + _MARGIN)
    figure = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(figure)
    if title:
        draw.text((_MARGIN, _MARGIN), title, fill=_INK, font=font)
    for r, (name, views) in enumerate(panels):
        y = top + r * (tile_h + _GAP)
        draw.text((_MARGIN, y), name, fill=_INK, font=font)
        for v in range(num_views):
            tile = Image.fromarray(views[v]).resize((tile_w, tile_h), Image.NEAREST)
            figure.paste(tile, (left + v * (tile_w + _GAP), y))
    return figure
