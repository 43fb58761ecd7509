"""Peak memory of one training step as the number of views grows (issue 6, target 2).

    .venv/bin/python benchmarks/bench_memory.py [--preset small] [--size 224] [--views 2 4 8 16 32]

Each view count runs in a fresh process that builds the model, then runs one forward + backward pass at V
views (masks and loss as in pre-training) and reports the growth of its peak resident memory (ru_maxrss)
over the peak before the step: activations plus gradients (the optimiser state, the same for every V, is
left out). On a GPU (``--device cuda``) it reports the growth of ``torch.cuda.max_memory_allocated``. If
attention matrices were materialised, memory would grow with V^2; scaled dot-product attention keeps it
linear in V (plus the constant gradients).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys

import torch


def one_step(preset: str, views: int, size: int, device: str) -> dict:
    from muskie.model import create_model
    from muskie.pretraining import MaskConfig, pretraining_loss

    model = create_model(preset).to(device)
    generator = torch.Generator().manual_seed(0)

    def step(num_views: int) -> None:  # the training task's forward and backward
        images = torch.rand(1, num_views, 3, size, size, generator=generator, device="cpu").to(device) * 2 - 1
        pretraining_loss(model, images, MaskConfig(), generator).output.loss.backward()

    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.max_memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(views)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"views": views, "step_mib": (peak - base) / 2**20, "measure": "cuda max_memory_allocated"}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    step(views)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"views": views, "step_mib": (peak - base) / 1024, "measure": "peak RSS growth"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--views", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(one_step(args.preset, args.child, args.size, args.device)))
        return
    print(
        f"{args.preset} at {args.size}x{args.size}, batch 1, {args.device}; {platform.machine()}, "
        f"torch {torch.__version__}"
    )
    rows = []
    for views in args.views:
        command = [
            sys.executable,
            __file__,
            "--preset",
            args.preset,
            "--size",
            str(args.size),
            "--device",
            args.device,
            "--child",
            str(views),
        ]
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    reference = next((r for r in rows if r["views"] == 8), rows[0])
    print(f"{'views':>5} {'step MiB':>9} {'/ 8 views':>9} {'MiB per view':>12}   ({rows[0]['measure']})")
    for row in rows:
        print(
            f"{row['views']:>5} {row['step_mib']:>9.1f} {row['step_mib'] / reference['step_mib']:>9.2f} "
            f"{row['step_mib'] / row['views']:>12.1f}"
        )


if __name__ == "__main__":
    main()
