"""Result reports: markdown tables for people and JSON for programs, written side by side.

Every evaluation (masked views, correspondence, 3D reconstruction) writes its results through
:func:`write_report`, and formats its tables with :func:`markdown_table` and :func:`format_cell`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from muskie.outputs import naming_a_full_disk


def format_cell(value, spec: str = ".4g") -> str:
    """A table cell: integers as they are, None and NaN as ``n/a``, other numbers with ``spec``, text as is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or isinstance(value, int) or isinstance(value, str):
        return str(value)
    return format(value, spec)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A markdown table (no trailing newline); cells that are not strings go through :func:`format_cell`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(cell if isinstance(cell, str) else format_cell(cell) for cell in row) + " |")
    return "\n".join(lines)


def write_report(out_dir: str | Path, stem: str, markdown: str, data: dict) -> tuple[Path, Path]:
    """Write ``out_dir/<stem>.md`` (``markdown``) and ``out_dir/<stem>.json`` (``data``, indented); returns
    both paths. The folder is created if needed; a full disk raises :class:`muskie.outputs.NoSpaceLeftError`
    naming it."""
    out_dir = Path(out_dir)
    markdown_path, json_path = out_dir / f"{stem}.md", out_dir / f"{stem}.json"
    with naming_a_full_disk(out_dir, f"{markdown_path.name} and {json_path.name} were not both written"):
        out_dir.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(markdown)
        json_path.write_text(json.dumps(data, indent=2))
    return markdown_path, json_path
