"""Indexing a dataset root into a manifest (``muskie data index``): one pass, parallel over scenes.

Each scene is read by its format's adapter (``muskie.data.formats``) in a worker process, which reads the
dataset's camera files and image headers but decodes no image; the main process writes each scene's record
to the manifest as it arrives (``muskie.data.sources.manifest.write_manifest``), so memory stays that of a
few scenes however many frames the dataset has. Scenes are written in the order of their ids, whatever the
number of workers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from muskie.data.formats import check_options, get_format
from muskie.data.sources.manifest import scene_record, write_manifest
from muskie.progress import progress_bar


@dataclass
class IndexSummary:
    """What :func:`index_dataset` wrote.

    Attributes:
        manifest: the manifest file.
        scenes: scenes written; frames: their frames.
        failed: ``(scene id, error message)`` of each scene the adapter could not read (left out).
    """

    manifest: Path
    scenes: int = 0
    frames: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def _index_scene(job: tuple[str, str, str, dict]) -> tuple[str, dict | None, str | None]:
    """``(scene id, manifest record or None, error or None)`` of one ``(root, format, scene id, options)`` job."""
    root, format_name, scene_id, options = job
    try:
        scene = get_format(format_name).read_scene(Path(root), scene_id, cameras=True, depth=True, **options)
    except (OSError, ValueError) as err:
        return scene_id, None, f"{type(err).__name__}: {err}"
    return scene_id, scene_record(scene, scene_id, Path(root)), None


def index_dataset(
    root: str | Path,
    format_name: str,
    out_path: str | Path,
    workers: int = 1,
    progress: bool = False,
    options: dict | None = None,
) -> IndexSummary:
    """Index every scene of the dataset at ``root`` in format ``format_name`` into the manifest ``out_path``.

    Args:
        root: the dataset root, as its format expects it.
        format_name: a ``muskie.data.formats`` name.
        out_path: the manifest to write (v2; its folder is created; written completely or not at all).
        workers: processes reading scenes (1: in this process).
        progress: show a progress bar (scenes, with the running frame count).
        options: keyword options of the format's adapter (``muskie.data.formats.adapter_options``).

    Returns:
        The summary; scenes the adapter fails to read are left out and listed in ``failed``.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        FormatError: ``root`` does not look like the format.
        ValueError: unknown format, ``workers < 1``, or no scene could be read (no manifest is written).
    """
    root, out_path = Path(root), Path(out_path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    options = dict(options or {})
    check_options(format_name, options)
    scene_ids = get_format(format_name).find_scenes(root)
    if not scene_ids:
        raise ValueError(f"{root}: no {format_name} scenes found")
    jobs = [(str(root), format_name, scene_id, options) for scene_id in scene_ids]
    summary = IndexSummary(out_path)
    bar = progress_bar(total=len(jobs), unit="scene", desc=f"indexing {root}", enabled=progress)

    def records(results: Iterator) -> Iterator[dict]:
        for scene_id, record, error in results:
            bar.update(1)
            if record is None:
                summary.failed.append((scene_id, error))
                continue
            summary.scenes += 1
            summary.frames += len(record["frames"])
            bar.set_postfix(frames=summary.frames, refresh=False)
            yield record

    workers = min(workers, len(jobs))
    try:
        if workers == 1:
            written = write_manifest(records(map(_index_scene, jobs)), root, out_path)
        else:
            # small chunks keep every worker busy; ordered results keep the manifest in scene-id order
            chunk = max(1, min(32, len(jobs) // (8 * workers)))
            with multiprocessing.Pool(workers) as pool:
                written = write_manifest(records(pool.imap(_index_scene, jobs, chunksize=chunk)), root, out_path)
    finally:
        bar.close()
    if written == 0:
        out_path.unlink()
        first_id, first_error = summary.failed[0]
        raise ValueError(f"{root}: no scene could be read as {format_name} (scene {first_id}: {first_error})")
    return summary
