"""Every speed lever of issue 15 against muskie's default, in one run (docs/performance.md, "Levers").

    .venv/bin/python benchmarks/bench_levers.py [--presets tiny small base] [--precisions fp32 auto]
        [--pairs 7] [--warmup 2] [--threads N] [--json levers.json]

For each preset at the issue's settings (tiny: 16 scenes x 4 views at 64 px; small: 1 x 4 at 224 px; base:
1 x 8 at 224 px) and each precision (``auto`` is bf16 where the device computes it natively, so by default
fp32 and, on such a machine, bf16), one model per arm from the same initial weights: the default, each lever
alone (``levers.LEVERS``: compile, foreach, fused, masked_head, and the reference paths of two defaults:
rope_one_by_one, of the RoPE of queries and keys together, and bf16_attention, of short CPU attention in
float32 under bf16; freeze for inference only) and the off-by-default levers
together (compile, fused, masked_head). The arms' training steps (forward, backward, AdamW) alternate in one
process (``paired.py``), with the same images and the same masks in a round; then inference (every block's
features, no masks) with the inference levers. Prints per arm the median seconds and the median over rounds
of default / arm (above 1: the lever is faster), the first step's loss relative to the default's (the arms
compute the same thing), and the machine with its CPU capability. ``--json`` writes every time.

Measure on a quiet machine: the figures of a loaded one say nothing. ``--presets tiny --precisions fp32
--pairs 1 --warmup 1`` checks that it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import statistics

import torch
from levers import INFERENCE_LEVERS, INFERENCE_ONLY_LEVERS, LEVERS, inference, training_step
from paired import machine_facts, paired_ratio, synchronizer, time_paired

from muskie.devices import cpu_capability, resolve_device, resolve_precision
from muskie.model import MuskieBackbone, create_model
from muskie.pretraining import MaskConfig

# preset -> (scenes, views, size in pixels): the settings of issue 15 (bench_training.py's and the release
# comparison's)
SETTINGS = {"tiny": (16, 4, 64), "small": (1, 4, 224), "base": (1, 8, 224)}
# arm -> its levers; "default" is muskie as it ships
TRAINING_ARMS: dict[str, tuple[str, ...]] = {
    "default": (),
    **{name: (name,) for name in LEVERS if name not in INFERENCE_ONLY_LEVERS},
    "compile+fused+masked_head": ("compile", "fused", "masked_head"),
}
INFERENCE_ARMS: dict[str, tuple[str, ...]] = {"default": (), **{name: (name,) for name in INFERENCE_LEVERS}}


def report(title: str, times: dict[str, list[float]], first_losses: dict[str, float] | None) -> None:
    print(title)
    header = f"  {'arm':<28} {'median s':>9} {'default/arm':>12}"
    print(header + (f" {'first loss / default - 1':>25}" if first_losses else ""))
    for arm, seconds in times.items():
        line = f"  {arm:<28} {statistics.median(seconds):>9.4f} {paired_ratio(times, 'default', arm):>11.3f}x"
        if first_losses:
            line += f" {first_losses[arm] / first_losses['default'] - 1:>25.1e}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--pairs", type=int, default=7, help="timed rounds (every arm once per round)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls of every arm first (compiles)")
    parser.add_argument("--precisions", nargs="+", choices=["auto", "fp32", "bf16"], default=["fp32", "auto"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", help="write every time here")
    args = parser.parse_args()
    if args.pairs < 1 or args.warmup < 1:
        parser.error("--pairs and --warmup must be >= 1 (the warm-up also gives each arm's first loss)")
    torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    print(machine_facts(device))
    precisions = {}
    for asked in args.precisions:
        precision, reason = resolve_precision(asked, device)
        precisions.setdefault(precision, reason)
    results = {"machine": machine_facts(device), "runs": {}}
    for preset in args.presets:
        for precision, reason in precisions.items():
            print(reason)
            results["runs"][f"{preset} {precision}"] = measure(preset, precision, device, args.pairs, args.warmup)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


def measure(preset: str, precision: str, device: torch.device, pairs: int, warmup: int) -> dict:
    """The training and inference arms of ``preset`` at ``precision``, timed and printed; returns the times."""

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    sync = synchronizer(device)
    batch, views, size = SETTINGS[preset]
    images = torch.rand(batch, views, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    images = images.to(device)
    torch.manual_seed(0)
    initial = create_model(preset).to(device)
    steps, first_losses = {}, {}
    for arm, levers in TRAINING_ARMS.items():
        step = training_step(copy.deepcopy(initial), images, levers, autocast(), MaskConfig())
        first_losses[arm] = float(step(0))  # the warm-up's first call: the same masks and weights in every arm
        steps[arm] = step
    train_times = time_paired(steps, pairs, warmup - 1, sync)
    label = f"{preset} {batch}x{views} views {size}px, {precision}, CPU capability {cpu_capability()}"
    report(f"training step, {label}", train_times, first_losses)
    del steps
    gc.collect()
    runs = {
        arm: inference(MuskieBackbone(initial.config).to(device), images[:1], levers, autocast())
        for arm, levers in INFERENCE_ARMS.items()
    }
    infer_times = time_paired(runs, pairs, warmup, sync)
    label = f"{preset} 1x{views} views {size}px, {precision}, CPU capability {cpu_capability()}"
    report(f"inference features, {label}", infer_times, None)
    del runs
    gc.collect()
    return {"training": train_times, "first_losses": first_losses, "inference": infer_times}


if __name__ == "__main__":
    main()
