"""A run folder's guards: one writer at a time, and metric logs cut back to the last checkpoint on resume."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


class RunFolderBusyError(RuntimeError):
    """Another process is already training into the same output folder."""


class RunLock:
    """An exclusive lock on ``out_dir/.lock`` held for the whole run (released when the process dies)."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / ".lock"
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise RunFolderBusyError(
                f"{self.path.parent}: another muskie run is writing to this folder; "
                "wait for it to finish or choose another --out"
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"{os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines of steps after ``last_step``: a killed run may have logged steps it never saved."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= last_step:
                kept.append(line)
        except (ValueError, KeyError):  # a line cut short by the kill
            continue
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)
