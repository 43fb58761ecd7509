"""A grouped bar chart with error bars, drawn with Pillow (results figures without a plotting library).

One group of bars per category (e.g. a displacement bin), one bar per series (e.g. a recipe) in a fixed colour,
each bar's value in percent on a 0-100 axis and an optional half-range whisker (spread over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from muskie.vis.tracks import query_colors

_BACKGROUND = (255, 255, 255)
_INK = (0, 0, 0)
_GRID = (220, 220, 220)
_BAR_WIDTH = 14
_GROUP_GAP = 24
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 16, 30, 40
_PLOT_HEIGHT = 220
_LEGEND_LINE = 14


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[str],
    values: Sequence[Sequence[float | None]],
    spreads: Sequence[Sequence[float | None]] | None = None,
    title: str = "",
    axis_label: str = "%",
) -> Image.Image:
    """The chart as an RGB ``PIL.Image``.

    Args:
        categories: group labels along the x axis (``G``).
        series: bar labels, one colour each, listed in the legend (``S``).
        values: ``values[s][g]`` in percent (0-100), ``None`` for a missing bar.
        spreads: ``spreads[s][g]``: half-length of the whisker drawn on the bar (same units), or ``None``.
        title: drawn above the plot; axis_label: drawn beside the y axis.
    """
    if len(values) != len(series) or any(len(row) != len(categories) for row in values):
        raise ValueError(f"values must be {len(series)} series x {len(categories)} categories")
    if spreads is not None and (len(spreads) != len(series) or any(len(r) != len(categories) for r in spreads)):
        raise ValueError("spreads must have the shape of values")
    font = ImageFont.load_default()
    colors = query_colors(len(series))
    group_width = len(series) * _BAR_WIDTH
    plot_width = len(categories) * (group_width + _GROUP_GAP)
    legend_height = _LEGEND_LINE * len(series) + 8
    widest_text = max(font.getlength(text) for text in [title, *series])
    width = int(max(_LEFT + plot_width + _RIGHT, _LEFT + 16 + widest_text + _RIGHT))
    height = _TOP + _PLOT_HEIGHT + _BOTTOM + legend_height
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((_LEFT, 8), title, fill=_INK, font=font)

    def y_of(value: float) -> float:
        return _TOP + _PLOT_HEIGHT * (1 - max(0.0, min(100.0, value)) / 100)

    for tick in range(0, 101, 20):
        draw.line([(_LEFT, y_of(tick)), (_LEFT + plot_width, y_of(tick))], fill=_GRID)
        draw.text((4, y_of(tick) - 6), f"{tick}", fill=_INK, font=font)
    draw.text((4, _TOP - 18), axis_label, fill=_INK, font=font)
    for g, category in enumerate(categories):
        x0 = _LEFT + g * (group_width + _GROUP_GAP) + _GROUP_GAP // 2
        for s in range(len(series)):
            value = values[s][g]
            if value is None:
                continue
            left = x0 + s * _BAR_WIDTH
            draw.rectangle([left, y_of(value), left + _BAR_WIDTH - 2, y_of(0)], fill=colors[s])
            spread = None if spreads is None else spreads[s][g]
            if spread:
                middle = left + (_BAR_WIDTH - 2) / 2
                draw.line([(middle, y_of(value - spread)), (middle, y_of(value + spread))], fill=_INK, width=1)
        draw.text((x0, _TOP + _PLOT_HEIGHT + 6), category, fill=_INK, font=font)
    draw.line([(_LEFT, y_of(0)), (_LEFT + plot_width, y_of(0))], fill=_INK)
    legend_top = _TOP + _PLOT_HEIGHT + _BOTTOM - 12
    for s, name in enumerate(series):
        y = legend_top + s * _LEGEND_LINE
        draw.rectangle([_LEFT, y + 2, _LEFT + 10, y + 10], fill=colors[s])
        draw.text((_LEFT + 16, y), name, fill=_INK, font=font)
    return image
