"""A run folder's guards: one writer at a time, metric logs cut back to the last checkpoint on resume, and
an earlier run's files moved aside (never deleted) when a fresh run starts in its folder."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

# Where a fresh run moves the files of an earlier run in its folder: OUT/previous-runs/<UTC time>/.
PREVIOUS_RUNS_DIR = "previous-runs"


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


def move_earlier_run(out_dir: Path, patterns: tuple[str, ...]) -> Path | None:
    """Move the files of an earlier run (those matching the glob ``patterns`` in ``out_dir``, in that order)
    into a new ``out_dir/previous-runs/<UTC time>/`` folder, so that a fresh run starts in an empty folder
    and nothing of the earlier run is lost; returns that folder, or None when there was nothing to move.

    Each file is moved with one rename, the checkpoint first (``patterns[0]``): a kill in the middle leaves
    no checkpoint beside another run's log for the next run to resume. Call only under the folder's lock.
    """
    found = list(dict.fromkeys(path for pattern in patterns for path in sorted(out_dir.glob(pattern))))
    if not found:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target, suffix = out_dir / PREVIOUS_RUNS_DIR / stamp, 1
    while target.exists():  # two fresh starts within one second
        target, suffix = out_dir / PREVIOUS_RUNS_DIR / f"{stamp}-{suffix}", suffix + 1
    target.mkdir(parents=True)
    for path in found:
        os.replace(path, target / path.name)
    return target
