"""The one progress bar of every long command: tqdm on stderr, shown only when asked for and when stderr is
a terminal, so that logs, pipes and tests get no bar characters."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    enabled: bool = True,
    initial: float = 0,
    file: IO[str] | None = None,
):
    """A ``tqdm`` bar over ``iterable`` (or updated by hand with ``.update(n)`` when None) of ``total`` units.

    Args:
        iterable: what to iterate; None for a bar updated with ``update``.
        total: the number of units (None: ``len(iterable)`` where it has one).
        desc: the text before the bar, e.g. ``"rendering scenes"``.
        unit: what one unit is (``"scene"``, ``"step"``).
        enabled: False hides the bar (``--no-progress``).
        initial: units already done (a resumed run).
        file: the stream to draw on (default stderr); the bar is hidden unless it is a terminal.
    Returns:
        the bar, an iterable and a context manager; hidden, it draws nothing but still iterates.
    """
    from tqdm import tqdm

    stream = sys.stderr if file is None else file
    shown = enabled and stream.isatty()
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, initial=initial, file=stream, disable=not shown, dynamic_ncols=True
    )
