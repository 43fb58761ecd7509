"""Training-step efficiency and the cost of cross-view attention (issue 6, targets 1 and 5).

    .venv/bin/python benchmarks/bench_training.py [--threads 2] [--repeats 3]

In one run, on one machine:
1. the machine's matrix-multiply rate (4096x4096 products, fp32 and bf16);
2. a full training step (forward, backward, AdamW) of ``tiny`` at 64 px with 16 scenes of 4 views and of
   ``base`` at 224 px with 1 scene of 8 views, in fp32 and under bf16 autocast: seconds per step, achieved
   FLOP/s from the analytic count (``muskie.model.flops``), the fraction of the fp32 matmul rate, and the bf16
   speed-up;
3. inference features of ``base`` for 8 views at 224 px, Muskie against its frame-wise twin (same weights,
   global layers restricted to each view): the time ratio.
Reports minima over ``--repeats`` timed runs after one warm-up (the cores may be shared).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from paired import machine_facts

from muskie.model import create_model
from muskie.model.flops import TRAINING_STEP_FACTOR, forward_flops
from muskie.pretraining import MaskConfig, pretraining_loss


def best_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_rate(dtype: torch.dtype, repeats: int, n: int = 4096) -> float:
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    return 2 * n**3 / best_time(lambda: a @ b, repeats)


def training_step_time(preset: str, batch: int, views: int, size: int, bf16: bool, repeats: int):
    torch.manual_seed(0)
    model = create_model(preset)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, views, 3, size, size, generator=generator) * 2 - 1
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():  # the training task's step: view shuffle, masks, forward, loss, backward, AdamW
        pretraining_loss(model, images, MaskConfig(), generator, autocast).output.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds = best_time(step, repeats)
    flops = batch * forward_flops(model.config, views, size, size) * TRAINING_STEP_FACTOR
    return seconds, flops


@torch.no_grad()
def feature_time(cross_view: bool, views: int, size: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = create_model("base", cross_view=cross_view).eval()
    images = torch.rand(1, views, 3, size, size) * 2 - 1
    return best_time(lambda: model(images), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_facts(torch.device("cpu")))

    fp32_rate = matmul_rate(torch.float32, args.repeats)
    bf16_rate = matmul_rate(torch.bfloat16, args.repeats)
    print(
        f"matmul 4096^3: fp32 {fp32_rate / 1e9:.1f} GFLOP/s, bf16 {bf16_rate / 1e9:.1f} GFLOP/s "
        f"({bf16_rate / fp32_rate:.2f}x)"
    )

    print(f"{'step':<28} {'precision':>9} {'s/step':>8} {'GFLOP/step':>10} {'GFLOP/s':>8} {'% fp32 mm':>9}")
    for preset, batch, views, size in (("tiny", 16, 4, 64), ("base", 1, 8, 224)):
        times = {}
        for bf16 in (False, True):
            seconds, flops = training_step_time(preset, batch, views, size, bf16, args.repeats)
            times[bf16] = seconds
            label = f"{preset} {batch}x{views} views {size}px"
            print(
                f"{label:<28} {'bf16' if bf16 else 'fp32':>9} {seconds:>8.3f} {flops / 1e9:>10.1f} "
                f"{flops / seconds / 1e9:>8.1f} {100 * flops / seconds / fp32_rate:>8.1f}%"
            )
        print(f"{'':<28} bf16 speed-up {times[False] / times[True]:.2f}x")

    views, size = 8, 224
    muskie_s = feature_time(True, views, size, args.repeats)
    framewise_s = feature_time(False, views, size, args.repeats)
    print(
        f"base features, {views} views at {size}px: Muskie {muskie_s:.3f} s, frame-wise twin {framewise_s:.3f} s, "
        f"ratio {muskie_s / framewise_s:.2f}x"
    )


if __name__ == "__main__":
    main()
