"""The contact sheet of ``muskie data show``: view groups as the model sees them, one row per group.

Each row is one sample of a multi-view dataset (after windowing, object zoom, crop and resize), its views
left to right, labelled with the scene's name. Pillow and numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from muskie.constants import denormalize_image

_GAP = 4
_LABEL_HEIGHT = 14
_BACKGROUND = (255, 255, 255)
_INK = (0, 0, 0)


def _tile(image: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` in [-1, 1] -> an RGB Pillow image."""
    pixels = denormalize_image(image.float()).clamp(0, 1).permute(1, 2, 0).numpy()
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8))


def contact_sheet(samples: Sequence[dict]) -> Image.Image:
    """A sheet of view groups.

    Args:
        samples: multi-view samples (``docs/layout.md``): ``images (V, 3, H, W)`` float in [-1, 1] and
            ``scene`` str; groups may differ in ``V`` and size.

    Returns:
        An RGB image: row ``g`` holds sample ``g``'s scene name above its views, left to right.
    """
    if not samples:
        raise ValueError("a contact sheet needs at least one sample")
    rows = [[_tile(view) for view in sample["images"]] for sample in samples]
    width = _GAP + max(sum(tile.width + _GAP for tile in row) for row in rows)
    height = _GAP + sum(_LABEL_HEIGHT + max(tile.height for tile in row) + _GAP for row in rows)
    sheet = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    top = _GAP
    for sample, row in zip(samples, rows, strict=True):
        draw.text((_GAP, top), f"{sample['scene']}  ({len(row)} views)", fill=_INK)
        top += _LABEL_HEIGHT
        left = _GAP
        for tile in row:
            sheet.paste(tile, (left, top))
            left += tile.width + _GAP
        top += max(tile.height for tile in row) + _GAP
    return sheet
