"""The grouped bar chart: bars where the values say, refusal of mismatched shapes."""

import numpy as np
import pytest

from muskie.vis.charts import grouped_bars
from muskie.vis.tracks import query_colors


def test_bar_heights_follow_the_values():
    image = grouped_bars(["a", "b"], ["one", "two"], [[100.0, 0.0], [50.0, None]], title="t")
    pixels = np.asarray(image)
    colors = query_colors(2)

    def column_height(color):
        mask = np.all(pixels == color, axis=-1)
        mask[260:] = False  # the legend's swatches sit below the plot
        return int(mask.any(axis=1).sum())

    full, half = column_height(colors[0]), column_height(colors[1])
    assert full > 200 and abs(half - full / 2) <= 3, (full, half)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="2 series x 2 categories"):
        grouped_bars(["a", "b"], ["one", "two"], [[1.0, 2.0]])
