"""Where the time of a training step goes, muskie against the authors' release, from torch's profiler
(docs/performance.md, "Why fp32 stays at parity, from the profile").

    PYTHONPATH=<einops> .venv/bin/python benchmarks/profile_release_step.py --git-dir DIR [--preset small]
        [--batch 1] [--views 4] [--size 224] [--steps 2] [--warmup 2] [--precision fp32] [--levers LIST]
        [--threads N] [--top 12]

The same two arms as ``release_compare.py --what train`` (the release's step with its own references, masks
and loss; muskie's training-task step with ``--levers``), in one process: ``--warmup`` untimed steps each,
then ``--steps`` steps of each under ``torch.profiler``. Prints, per arm, the self CPU time of the matrix
products (``aten::mm``, ``addmm``, ``bmm``), of the attention kernel (every ``scaled_dot_product`` op) and
of everything else, with their shares and call counts, then the ``--top`` operators by self time.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from levers import parse_levers
from paired import machine_facts
from release_compare import import_release, round_arms
from torch.profiler import ProfilerActivity, profile

MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm")


def category(name: str) -> str:
    if name in MATRIX_PRODUCTS:
        return "matrix products"
    if "scaled_dot_product" in name:
        return "attention kernel"
    return "everything else"


def profile_arm(step, steps: int, warmup: int) -> list:
    for index in range(warmup):
        step(index)
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        for index in range(steps):
            step(warmup + index)
    return [event for event in profiled.key_averages() if event.self_cpu_time_total > 0]


def report(name: str, events: list, top: int) -> None:
    total = sum(event.self_cpu_time_total for event in events)
    print(f"{name}: {total / 1e6:.3f} s of self CPU time")
    for part in ("matrix products", "attention kernel", "everything else"):
        chosen = [event for event in events if category(event.key) == part]
        seconds = sum(event.self_cpu_time_total for event in chosen) / 1e6
        calls = sum(event.count for event in chosen)
        print(f"  {part:<17} {seconds:>7.3f} s {seconds * 1e6 / total:>6.1%} {calls:>6} calls")
    for event in sorted(events, key=lambda event: -event.self_cpu_time_total)[:top]:
        print(f"    {event.key[:48]:<48} {event.self_cpu_time_total / 1e3:>9.1f} ms {event.count:>6} calls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", required=True, help="a git directory of the release")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="muskie's")
    parser.add_argument("--levers", type=parse_levers, default=())
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    print(machine_facts(device))
    settings = argparse.Namespace(**vars(args), worker="train", release_precision="fp32")
    with tempfile.TemporaryDirectory(prefix="muskie_release_") as folder:
        arms = round_arms(import_release(args.git_dir, args.rev, folder), settings, device)
        for name, step in arms.items():
            report(name, profile_arm(step, args.steps, args.warmup), args.top)


if __name__ == "__main__":
    main()
