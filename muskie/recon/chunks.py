"""Long captures in chunks of views that share frames, assembled into the first chunk's frame.

A capture of ``V`` views is cut into chunks of ``chunk_views`` consecutive views, consecutive chunks sharing
``overlap`` views: chunk ``k`` starts at view ``k * (chunk_views - overlap)``, and the last one ends at the
last view with the full length (so it may share more than ``overlap`` views). The model reconstructs each
chunk on its own, in a frame and scale of its own. Every chunk after the first is then moved into the frame
of the views already placed by the similarity (Sim(3): scale, rotation, translation) that best maps its
points of those shared views onto theirs, pixel by pixel, each pixel weighted by the product of its two
confidences (weighted Umeyama). A view's result is the one of the first chunk that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from muskie.geometry import Similarity, umeyama
from muskie.recon.prediction import Prediction, concatenate


def checked_overlap(chunk_views: int, overlap: int | None = None) -> int:
    """The views consecutive chunks share: ``overlap``, by default a third of a chunk (at least 1). Raises
    ValueError unless ``chunk_views >= 2`` and ``1 <= overlap < chunk_views``."""
    if chunk_views < 2:
        raise ValueError(f"chunk views must be at least 2, got {chunk_views}")
    overlap = max(1, chunk_views // 3) if overlap is None else overlap
    if not 1 <= overlap < chunk_views:
        raise ValueError(f"chunk overlap must be between 1 and chunk views - 1 = {chunk_views - 1}, got {overlap}")
    return overlap


def chunk_ranges(num_views: int, chunk_views: int, overlap: int | None = None) -> list[range]:
    """The view indices of each chunk (module docstring); one chunk of all views when ``num_views <=
    chunk_views``. ``overlap``: see :func:`checked_overlap`."""
    overlap = checked_overlap(chunk_views, overlap)
    if num_views <= chunk_views:
        return [range(num_views)]
    starts = [*range(0, num_views - chunk_views, chunk_views - overlap), num_views - chunk_views]
    return [range(start, start + chunk_views) for start in starts]


def shared_alignment(chunk: Prediction, placed: Prediction) -> Similarity:
    """The similarity taking ``chunk``'s world frame to ``placed``'s: the confidence-weighted least-squares
    fit of the points of the same views (same order, same size) in both. Non-finite pixels are left out."""
    source = chunk.points.double().reshape(-1, 3).numpy()
    target = placed.points.double().reshape(-1, 3).numpy()
    weights = (chunk.confidence.double() * placed.confidence.double()).reshape(-1).numpy()
    usable = np.isfinite(source).all(1) & np.isfinite(target).all(1) & np.isfinite(weights)
    return umeyama(source[usable], target[usable], weights=weights[usable])


def assemble_chunks(chunks: Iterable[Prediction], ranges: list[range]) -> Prediction:
    """One prediction of all views from the chunks' predictions (one per range of :func:`chunk_ranges`, in
    order; read one at a time, so a generator keeps one chunk's model outputs in memory), in the first
    chunk's world frame. Each chunk after the first must share a view with the chunks before it."""
    placed: dict[int, Prediction] = {}
    count = 0
    # not strict: too few chunks are refused after the loop, with a message naming both counts
    for index, (chunk, views) in enumerate(zip(chunks, ranges, strict=False)):
        count += 1
        where = f"chunk {index} (views {views.start}-{views.stop - 1})"
        if len(chunk.names) != len(views):
            raise ValueError(f"chunk {index} holds {len(chunk.names)} views, its range {len(views)}")
        shared = [i for i, view in enumerate(views) if view in placed]
        if index > 0:
            if not shared:
                raise ValueError(f"{where} shares no view with the chunks before")
            try:
                alignment = shared_alignment(chunk.views(shared), concatenate([placed[views[i]] for i in shared]))
            except ValueError as err:
                raise ValueError(f"{where}: cannot align it ({err})") from err
            chunk = chunk.moved(alignment)
        for i, view in enumerate(views):
            placed.setdefault(view, chunk.views([i]))
    if count != len(ranges):
        raise ValueError(f"{count} chunk predictions for {len(ranges)} chunks")
    if sorted(placed) != list(range(len(placed))):
        raise ValueError("the chunks leave views out")
    return concatenate([placed[view] for view in range(len(placed))])
