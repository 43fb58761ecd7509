"""Seconds per sample of the correspondence evaluation at paper scale (issue 16, section 4; docs/benchmarks.md,
"Time per sample").

    .venv/bin/python benchmarks/bench_eval.py [--presets base large] [--sizes 224 512] [--views 8]
        [--readouts nn attention-all] [--precisions fp32 auto] [--samples 2] [--device auto] [--threads N]
        [--json eval_times.json]

For each preset (a random initialisation: the time does not depend on the weights), image size (square, in
pixels), readout and precision (``auto`` is bf16 where the device has it natively, so by default fp32 and, on
such a machine, bf16), it runs :func:`muskie.eval.correspondence.evaluate_correspondence` as ``muskie eval
correspondence`` does: 8 views of a held-out synthetic scene, 100 queries of view 0 scored in float32 on the
CPU. ``nn`` reads the last block's features (one forward pass); ``attention-all`` is the paper's Muskie readout
(view 0's part of the cross-view attention of every block, symmetrised and averaged, then a soft-argmax). The
first sample of each setting is a warm-up; the median over the others is printed, with the peak GPU memory on
CUDA. Rendering the synthetic samples is done first and not timed.

``--presets tiny --sizes 64 --samples 2`` checks that it runs. Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from paired import machine_facts, synchronizer

from muskie.devices import resolve_device, resolve_precision
from muskie.eval.backbones.muskie_backbone import random_muskie_backbone
from muskie.eval.backbones.on_device import OnDevice
from muskie.eval.correspondence import CorrespondenceConfig, evaluate_correspondence, load_samples
from muskie.model.config import PRESETS


def time_setting(backbone, samples: list[dict], readout: str, device: torch.device, precision: str) -> dict:
    """Seconds per sample after the first (a warm-up) and the peak CUDA memory in GiB (None on a CPU)."""
    wrapped = OnDevice(backbone, device, precision)
    config = CorrespondenceConfig(readouts=(readout,))
    sync = synchronizer(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for sample in samples:
        start = time.perf_counter()
        evaluate_correspondence(wrapped, [sample], config, keep_examples=0)
        sync()
        seconds.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"seconds": seconds[1:], "median": statistics.median(seconds[1:]), "peak_gib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["base", "large"], choices=sorted(PRESETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[224, 512])
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--readouts", nargs="+", default=["nn", "attention-all"], choices=["nn", "attention-all"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "auto"], choices=["fp32", "bf16", "auto"])
    parser.add_argument("--samples", type=int, default=3, help="samples per setting, the first a warm-up")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write every time here")
    args = parser.parse_args()
    if args.samples < 2:
        parser.error("--samples must be >= 2 (the first is a warm-up)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    precisions = list(dict.fromkeys(resolve_precision(p, device)[0] for p in args.precisions))
    print(machine_facts(device))
    print(f"{args.views} views, {args.samples - 1} timed samples per setting after a warm-up; seconds per sample")
    print(f"  {'preset':<7} {'size':>5} {'readout':<14} {'precision':<9} {'median s':>9} {'peak GiB':>9}")
    rows = []
    for size in args.sizes:
        samples = load_samples("synthetic", args.samples, args.views, (size, size), seed=0)
        for preset in args.presets:
            backbone = random_muskie_backbone(preset)
            for readout in args.readouts:
                for precision in precisions:
                    row = {"preset": preset, "size": size, "views": args.views, "readout": readout}
                    row.update(precision=precision, **time_setting(backbone, samples, readout, device, precision))
                    rows.append(row)
                    peak = "-" if row["peak_gib"] is None else f"{row['peak_gib']:.1f}"
                    print(f"  {preset:<7} {size:>5} {readout:<14} {precision:<9} {row['median']:>9.2f} {peak:>9}")
            del backbone
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine_facts(device), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
