"""Multi-view sampling for training: the request key every multi-view dataset takes."""

from __future__ import annotations

from typing import NamedTuple


class ViewRequest(NamedTuple):
    """What a multi-view dataset's ``__getitem__`` is asked for.

    Attributes:
        index: which scene (dataset-specific meaning, e.g. the scene's position in a list or a seed offset).
        num_views: ``V``, the number of views to return.
        height, width: output image size in pixels.
        seed: seeds every random choice made for this sample (views, crops), so a sample is reproducible.
    """

    index: int
    num_views: int
    height: int
    width: int
    seed: int
