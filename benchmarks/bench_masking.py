"""Time mask generation per mode: one pre-training step of 32 scenes x 8 views on a 32 x 32 patch grid.

    .venv/bin/python benchmarks/bench_masking.py [--threads 1] [--repeats 50]

Two timings per mode: ``sample_pretraining_masks`` (what the trainer calls: reference views drawn, only the
masked views get a mask) and ``sample_patch_masks`` for all 256 views. Target: under 5 ms per step and mode.
Reports the median and the fastest run; the fastest is the better estimate on a machine whose cores other
jobs share, the median shows how much they interfered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from muskie.pretraining.masking import MASK_MODES, MaskConfig, sample_patch_masks, sample_pretraining_masks

SCENES, VIEWS, GRID = 32, 8, 32
TARGET_MS = 5.0


def time_ms(fn, repeats: int) -> tuple[float, float]:
    """(median, minimum) wall time of ``fn()`` in milliseconds, after three warm-up calls."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)

    print(
        f"{SCENES} scenes x {VIEWS} views, {GRID}x{GRID} patches, {args.threads} thread(s), "
        f"torch {torch.__version__}, {os.cpu_count()} CPU cores visible"
    )
    print("note: the cores may be shared with other jobs; compare minima, not single runs")
    print(
        f"{'mode':<12} {'ratio':>5} {'step median':>12} {'step min':>9} {'256 views med':>14} "
        f"{'256 views min':>14} {'< 5 ms':>7}"
    )
    for mode in MASK_MODES:
        config = MaskConfig(modes=(mode,))
        ratio = config.ratio(mode)
        step = time_ms(lambda: sample_pretraining_masks(SCENES, VIEWS, GRID, GRID, config, generator), args.repeats)
        every = time_ms(
            lambda: sample_patch_masks(SCENES * VIEWS, GRID, GRID, mode, ratio, generator=generator), args.repeats
        )
        verdict = "yes" if step[1] < TARGET_MS else "no"
        print(
            f"{mode:<12} {ratio:>5.2f} {step[0]:>9.2f} ms {step[1]:>6.2f} ms {every[0]:>11.2f} ms "
            f"{every[1]:>11.2f} ms {verdict:>7}"
        )


if __name__ == "__main__":
    main()
