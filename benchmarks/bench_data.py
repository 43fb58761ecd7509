"""Data throughput: indexing frames/s, and loader views/s at 224 px, so a loader can be sized for a GPU step.

- ``index``: ``muskie data index`` (``index_dataset``, format ``images``) on a generated tree of small JPEG
  files (64x48, 100 frames per scene folder), with 1 worker and with one per core. Reading a frame is
  reading its JPEG header; nothing is decoded.
- ``loader``: pre-training batches (``images_only``, format ``images``: JPEG decode, random resized crop,
  resize to 224x224) of 4 groups of 8 views from 640x480 JPEGs through ``batch_stream``, with 1 and 2
  loader workers, after a warm-up batch.

    .venv/bin/python benchmarks/bench_data.py [--frames 100000] [--batches 20]

Prints the machine (CPU model, cores, torch, load average) and one line per measurement; the figures and
the command that produced them are in docs/datasets.md ("Loading speed").
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from paired import cpu_model  # benchmarks/ is on sys.path when a script here runs
from PIL import Image

from muskie.data.datasets import DatasetSourceConfig, open_source
from muskie.data.indexing import index_dataset
from muskie.data.views import MultiViewBatchSampler
from muskie.train.streams import batch_stream

FRAMES_PER_SCENE = 100
LOADER_SCENES, LOADER_FRAMES = 8, 32
VIEWS, BATCH, SIZE = 8, 4, 224


def jpeg_bytes(width: int, height: int, count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct JPEG files (smooth colour ramps with noise, quality 90) of ``width x height``."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, width)[None, :, None] * np.linspace(0, 1, height)[:, None, None]
    blobs = []
    for _ in range(count):
        pixels = np.clip(ramp * rng.uniform(0, 255, 3) + rng.normal(0, 12, (height, width, 3)), 0, 255)
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="JPEG", quality=90)
        blobs.append(buffer.getvalue())
    return blobs


def write_tree(root: Path, frames: int, frames_per_scene: int, width: int, height: int) -> None:
    """Scene folders ``root/NNNNNN/`` of ``frames_per_scene`` JPEG files, ``frames`` files in all."""
    blobs = jpeg_bytes(width, height, 16)
    for index in range(frames):
        scene, frame = divmod(index, frames_per_scene)
        folder = root / f"{scene:06d}"
        if frame == 0:
            folder.mkdir(parents=True)
        (folder / f"{frame:04d}.jpg").write_bytes(blobs[index % len(blobs)])


def bench_index(root: Path, workers: int) -> float:
    """Frames per second of one ``index_dataset`` pass."""
    start = time.perf_counter()
    summary = index_dataset(root, "images", root.parent / f"manifest-{workers}.json", workers=workers)
    return summary.frames / (time.perf_counter() - start)


def bench_loader(root: Path, workers: int, batches: int) -> float:
    """Views per second of pre-training batches from the JPEG tree at ``root``."""
    dataset = open_source(DatasetSourceConfig(str(root), format="images"), images_only=True)
    sampler = MultiViewBatchSampler(len(dataset), BATCH, num_views=VIEWS, sizes=[(SIZE, SIZE)])
    stream = batch_stream(dataset, sampler, start=0, workers=workers)
    next(stream)  # warm-up: worker start
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * BATCH * VIEWS / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="JPEG files to index (default: 100000)")
    parser.add_argument("--batches", type=int, default=20, help="timed loader batches per setting (default: 20)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = os.cpu_count() or 1
    print(f"machine: {cpu_model()}, {cores} cores, torch {torch.__version__}, load average {load:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        index_root, loader_root = Path(folder) / "index" / "data", Path(folder) / "loader" / "data"
        start = time.perf_counter()
        write_tree(index_root, args.frames, FRAMES_PER_SCENE, 64, 48)
        write_tree(loader_root, LOADER_SCENES * LOADER_FRAMES, LOADER_FRAMES, 640, 480)
        print(
            f"wrote {args.frames} 64x48 JPEGs ({args.frames // FRAMES_PER_SCENE} scenes) and "
            f"{LOADER_SCENES * LOADER_FRAMES} 640x480 JPEGs in {time.perf_counter() - start:.1f} s"
        )
        for workers in sorted({1, cores}):
            rate = bench_index(index_root, workers)
            print(f"index   workers {workers}: {rate:9.0f} frames/s")
        for workers in (1, 2):
            rate = bench_loader(loader_root, workers, args.batches)
            print(f"loader  workers {workers}: {rate:9.1f} views/s ({BATCH}x{VIEWS} views at {SIZE}x{SIZE} per batch)")


if __name__ == "__main__":
    main()
