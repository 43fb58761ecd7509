"""Reading a JSON file with errors that name the file and the place of the problem."""

from __future__ import annotations

import json
from pathlib import Path


def parse_json(data: str | bytes, path: Path):
    """The parsed JSON ``data`` read from ``path``; a ValueError names the file and the line/column of
    malformed JSON."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err})") from err
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to read") from None


def read_json(path: Path):
    """The parsed content of ``path`` (:func:`parse_json`)."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err})") from err
    return parse_json(text, path)
