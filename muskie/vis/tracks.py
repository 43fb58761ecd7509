"""Predicted versus true tracks (like the paper's Figure 1): one row per readout, one column per view.

View 0 shows the query points; every other view shows, per query (one colour each), the predicted match as
a filled dot and, where ground truth is known and the point is visible, the true position as a ring joined
to the prediction by a line, so long lines are large errors. Views smaller than ``MIN_TILE_SIZE`` are
enlarged by an integer factor (nearest neighbour). Pillow and numpy only.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from muskie.constants import denormalize_image

MIN_TILE_SIZE = 192
_GAP = 4
_MARGIN = 6
_BACKGROUND = (255, 255, 255)
_INK = (0, 0, 0)
_DOT_RADIUS = 3
_RING_RADIUS = 5


def query_colors(count: int) -> list[tuple[int, int, int]]:
    """``count`` distinct saturated RGB colours, evenly spaced in hue."""
    return [tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(i / max(count, 1), 0.9, 1.0)) for i in range(count)]


def _tile(image: torch.Tensor, scale: int) -> Image.Image:
    """``(3, H, W)`` in [-1, 1] -> enlarged RGB image."""
    pixels = denormalize_image(image.detach().cpu().double()).clamp(0, 1).permute(1, 2, 0).numpy()
    rgb = np.rint(pixels * 255).astype(np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
    return Image.fromarray(rgb)


def tracks_figure(
    images: torch.Tensor,
    predicted: dict[str, torch.Tensor],
    target_uv: torch.Tensor | None = None,
    visible: torch.Tensor | None = None,
    title: str | None = None,
    max_points: int = 24,
) -> Image.Image:
    """The tracks figure as an RGB ``PIL.Image``.

    Args:
        images: ``(V, 3, H, W)`` in [-1, 1].
        predicted: readout name -> ``(V, N, 2)`` predicted pixels ``(u, v)``, row 0 the queries; one figure
            row per readout.
        target_uv: ``(V, N, 2)`` true pixels, or None when unknown (then only predictions are drawn).
        visible: ``(V, N)`` bool, which true positions exist (None: all, when ``target_uv`` is given).
        title: drawn above the panels.
        max_points: draw only the first this many queries, to keep the figure legible.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (V, 3, H, W), got {tuple(images.shape)}")
    num_views, _, height, width = images.shape
    if not predicted:
        raise ValueError("predicted must hold at least one readout")
    for name, uv in predicted.items():
        if uv.dim() != 3 or uv.shape[0] != num_views or uv.shape[2] != 2:
            raise ValueError(f"predicted[{name!r}] must be ({num_views}, N, 2), got {tuple(uv.shape)}")
    num_points = min(max_points, next(iter(predicted.values())).shape[1])
    if visible is None and target_uv is not None:
        visible = torch.ones(target_uv.shape[:2], dtype=torch.bool)
    colors = query_colors(num_points)
    scale = max(1, math.ceil(MIN_TILE_SIZE / max(height, width)))
    tiles = [_tile(images[v], scale) for v in range(num_views)]

    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 2
    label_w = int(max(probe.textlength(name, font=font) for name in predicted)) + 2 * _GAP
    top = _MARGIN + (line_h + _GAP if title else 0) + line_h
    left = _MARGIN + label_w
    tile_w, tile_h = width * scale, height * scale
    size = (
        left + num_views * (tile_w + _GAP) - _GAP + _MARGIN,
        top + len(predicted) * (tile_h + _GAP) - _GAP + _MARGIN,
    )
    figure = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(figure)
    if title:
        draw.text((_MARGIN, _MARGIN), title, fill=_INK, font=font)
    for v in range(num_views):
        draw.text(
            (left + v * (tile_w + _GAP), top - line_h), "query view 0" if v == 0 else f"view {v}", fill=_INK, font=font
        )

    def to_figure(uv, x0, y0):  # pixel centre (u, v) -> figure coordinates of the enlarged pixel's centre
        return x0 + (float(uv[0]) + 0.5) * scale, y0 + (float(uv[1]) + 0.5) * scale

    for row, (name, uv) in enumerate(predicted.items()):
        y0 = top + row * (tile_h + _GAP)
        draw.text((_MARGIN, y0), name, fill=_INK, font=font)
        for v in range(num_views):
            x0 = left + v * (tile_w + _GAP)
            figure.paste(tiles[v], (x0, y0))
            for i in range(num_points):
                if v > 0 and visible is not None and not bool(visible[v, i]):
                    continue  # hidden in this view: no truth to compare with
                px, py = to_figure(uv[v, i], x0, y0)
                if v > 0 and target_uv is not None:
                    tx, ty = to_figure(target_uv[v, i], x0, y0)
                    draw.line([(px, py), (tx, ty)], fill=colors[i], width=1)
                    draw.ellipse(
                        [tx - _RING_RADIUS, ty - _RING_RADIUS, tx + _RING_RADIUS, ty + _RING_RADIUS],
                        outline=colors[i],
                        width=2,
                    )
                draw.ellipse(
                    [px - _DOT_RADIUS, py - _DOT_RADIUS, px + _DOT_RADIUS, py + _DOT_RADIUS],
                    fill=colors[i],
                    outline=_INK,
                )
    return figure
