"""Short real pre-training runs: data-loader waiting time and the bf16 loss curve (issue 6, targets 1 and 4).

    .venv/bin/python benchmarks/bench_pretrain_run.py [--steps 150] [--out /tmp/muskie-bench]

Runs the `tiny-cpu` recipe (synthetic scenes rendered by its default loader worker) for ``--steps`` steps
twice, in fp32 and under bf16 autocast, from the same seed, and reports from each run's metrics.jsonl:
the share of wall time spent waiting for data, seconds per step, and the masked-pixel MSE averaged over
windows of 25 steps, with the largest relative gap between the two curves.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from muskie.pretraining import load_pretrain_config, pretrain

WINDOW = 25


def run(precision: str, steps: int, out: Path) -> list[dict]:
    config = load_pretrain_config(
        "tiny-cpu",
        [{"precision": precision, "out_dir": str(out / precision), "steps": steps, "checkpoint_every": steps}],
    )
    pretrain(config, resume=False, progress=False)
    return [json.loads(line) for line in (out / precision / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", default="/tmp/muskie-bench")
    args = parser.parse_args()
    print(
        f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"tiny-cpu recipe, {args.steps} steps"
    )
    curves = {}
    for precision in ("fp32", "bf16"):
        records = run(precision, args.steps, Path(args.out))
        wait = sum(r["data_wait_s"] for r in records)
        total = sum(r["data_wait_s"] + r["step_s"] for r in records)
        curves[precision] = [
            sum(r["masked_mse"] for r in records[i : i + WINDOW]) / WINDOW
            for i in range(0, len(records) - WINDOW + 1, WINDOW)
        ]
        print(f"{precision}: {total / len(records):.3f} s/step, waiting for data {100 * wait / total:.2f}% of the time")
    print(f"masked MSE per {WINDOW}-step window ([-1, 1] pixel units):")
    print("fp32: " + " ".join(f"{v:.4f}" for v in curves["fp32"]))
    print("bf16: " + " ".join(f"{v:.4f}" for v in curves["bf16"]))
    gap = max(abs(a - b) / a for a, b in zip(curves["fp32"], curves["bf16"], strict=True))
    print(f"largest relative gap between the curves: {100 * gap:.1f}%")


if __name__ == "__main__":
    main()
