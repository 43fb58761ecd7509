"""Folders that commands write results into: never an input, never over earlier results unless asked, never
left half-written, and readable as any file the user writes.

:func:`output_folder` writes a folder of results (a prediction, a synthetic scene) into a temporary sibling
and moves it into place with renames only once it is complete, so a failure (a full disk, an exception, a
kill) leaves either the earlier folder or nothing, and a replaced folder keeps no stale file of the old one.
``tempfile`` creates its folders 0700 and files 0600 (private to the user); :func:`with_umask_permissions`
gives what they become the permissions of an ordinary ``open`` / ``mkdir`` (0666 / 0777 less the umask).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


class NoSpaceLeftError(OSError):
    """A write failed because the filesystem is full; the message names the folder."""


def current_umask() -> int:
    """The process's umask (e.g. ``0o022``): from ``/proc/self/status`` where Linux has it, else set and
    restored (``os.umask`` can only be read by setting it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def with_umask_permissions(path: str | os.PathLike) -> None:
    """Give ``path`` the mode ``open`` or ``mkdir`` would have created it with: 0666 (a file) or 0777 (a
    folder) less the umask; for what ``tempfile.mkstemp`` / ``mkdtemp`` created private (0600 / 0700)."""
    full = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, full & ~current_umask())


@contextlib.contextmanager
def naming_a_full_disk(folder: str | os.PathLike, what: str) -> Iterator[None]:
    """Inside the block, a write that fails on a full filesystem (ENOSPC) raises :class:`NoSpaceLeftError`
    ``no space left on <folder>: <what>`` instead of Python's ``[Errno 28]`` naming one file."""
    try:
        yield
    except NoSpaceLeftError:
        raise
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise NoSpaceLeftError(f"no space left on {folder}: {what}") from None
        raise


def check_output_folder(
    out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), overwrite: bool = False, flag: str = "--out"
) -> Path:
    """``out`` as a Path, after refusing (ValueError naming ``flag``) an empty path, a path that is a file,
    one equal to, inside or around one of ``inputs``, and an existing non-empty folder unless ``overwrite``."""
    if not str(out).strip():
        raise ValueError(f"{flag} is empty: give an output folder (an unset shell variable?)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: {flag} exists and is not a folder")
    target = out.resolve()
    for source in inputs:
        source = Path(source).resolve()
        if target == source or source in target.parents or target in source.parents:
            raise ValueError(f"{out}: {flag} would write into the input {source}; choose a folder outside it")
    if not overwrite and out.is_dir() and any(out.iterdir()):
        raise ValueError(f"{out}: {flag} is not empty; choose another folder or pass --overwrite to replace it")
    return out


@contextlib.contextmanager
def output_folder(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out``; when the block ends without error it becomes ``out``,
    replacing an existing ``out`` whole only if ``overwrite`` (else a ValueError). On any error the temporary
    folder is removed and ``out`` is as it was; a full disk raises :class:`NoSpaceLeftError` naming the folder."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ValueError(f"{out}: exists; pass --overwrite to replace it")
    with _staging(out) as staging:
        yield staging
        if out.exists():
            old = out.with_name(f".{out.name}.{os.getpid()}.old")
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)


@contextlib.contextmanager
def files_into(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``folder``; when the block ends without error, each file written
    there is renamed into ``folder`` (created if missing), replacing a file of the same name; other files of
    ``folder`` stay. On any error nothing reaches ``folder``; a full disk raises :class:`NoSpaceLeftError`."""
    folder = Path(folder)
    with _staging(folder) as staging:
        yield staging
        if not folder.exists():
            os.replace(staging, folder)
        else:
            for entry in sorted(staging.iterdir()):
                os.replace(entry, folder / entry.name)


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out``, removed at the end whatever happens; ENOSPC inside the block becomes
    a :class:`NoSpaceLeftError` naming ``out``'s folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with_umask_permissions(staging)  # it becomes the output folder
        yield staging
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise NoSpaceLeftError(f"no space left on {out.parent}; nothing was written to {out}") from None
        raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
