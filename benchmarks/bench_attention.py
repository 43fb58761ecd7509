"""bf16 attention with a backward on a CPU: torch's kernel in bf16 against muskie's float32 path, by sequence
length and head width (docs/performance.md, "Attention in float32 where bf16 is slow").

    .venv/bin/python benchmarks/bench_attention.py [--pairs 7] [--warmup 2] [--threads N] [--json OUT]

For each shape ``(sequences, heads, keys, head width)`` (the per-view and all-view attention of the ``tiny``,
``small`` and ``base`` presets at the settings of ``bench_levers.py``, and a sweep of lengths at about equal
work), one forward and backward of bf16 queries, keys and values: ``bf16``, torch's fused kernel as it is;
``float32``, the same inputs widened to float32, the kernel, the output rounded back to bf16 (the path
:func:`muskie.model.layers.sdpa.scaled_dot_product` takes for short sequences). The two alternate
(``paired.py``); each row prints their median milliseconds, bf16 / float32 (above 1: float32 is faster)
and whether muskie's rule (``CPU_FLOAT32_ATTENTION_MAX_VALUES``) takes the float32 path there.
``--pairs 1 --warmup 1`` checks that it runs.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
import torch.nn.functional as F
from paired import machine_facts, paired_ratio, time_paired

from muskie.model.layers.sdpa import CPU_FLOAT32_ATTENTION_MAX_VALUES, float32_on_cpu

# (sequences, heads, keys, head width): tiny (16 scenes x 4 views at 64 px: 64 + 4 tokens per view), small
# (1 x 4 at 224 px: 196 + 4) and base (1 x 8 at 224 px), per view and over all views
PRESET_SHAPES = {
    "tiny per view": (64, 4, 68, 32),
    "tiny all views": (16, 4, 272, 32),
    "small per view": (4, 6, 200, 64),
    "small all views": (1, 6, 800, 64),
    "base per view": (8, 12, 200, 64),
    "base all views": (1, 12, 1600, 64),
}
SWEEP_KEYS = (64, 128, 256, 384, 512, 768)
SWEEP_WORK = 64 * 64 * 64  # sequences x keys^2 of a sweep row, so that every row does about the same work


def shapes() -> dict[str, tuple[int, int, int, int]]:
    sweep = {
        f"{keys} keys of {width}": (max(1, SWEEP_WORK // keys**2), 4, keys, width)
        for width in (32, 64)
        for keys in SWEEP_KEYS
    }
    return {**PRESET_SHAPES, **sweep}


def arms(shape: tuple[int, int, int, int]) -> dict[str, object]:
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(*shape, generator=generator).bfloat16().requires_grad_() for _ in range(3))
    grad = torch.randn(*shape, generator=generator).bfloat16()

    def bf16(index: int) -> None:
        F.scaled_dot_product_attention(q, k, v).backward(grad)

    def float32(index: int) -> None:
        F.scaled_dot_product_attention(q.float(), k.float(), v.float()).bfloat16().backward(grad)

    return {"bf16": bf16, "float32": float32, "rule": float32_on_cpu(q, k, v)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write every time here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    print(machine_facts(device))
    print(f"float32 path where keys x head width <= {CPU_FLOAT32_ATTENTION_MAX_VALUES}")
    print(f"{'shape':<18} {'(N, heads, keys, width)':<24} {'bf16 ms':>8} {'float32 ms':>11} {'bf16/f32':>9} rule")
    record = {}
    for name, shape in shapes().items():
        timed = arms(shape)
        rule = timed.pop("rule")
        times = time_paired(timed, args.pairs, args.warmup, lambda: None)
        ratio = paired_ratio(times, "bf16", "float32")
        medians = {arm: statistics.median(seconds) * 1e3 for arm, seconds in times.items()}
        print(
            f"{name:<18} {str(shape):<24} {medians['bf16']:>8.2f} {medians['float32']:>11.2f} {ratio:>8.2f}x "
            f"{'float32' if rule else 'bf16'}"
        )
        record[name] = {"shape": shape, "times": times, "ratio": ratio, "float32_by_rule": rule}
    if args.json:
        with open(args.json, "w") as out:
            json.dump(record, out, indent=1)


if __name__ == "__main__":
    main()
