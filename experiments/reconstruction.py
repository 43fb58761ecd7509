"""The reconstruction experiment of issue 5: one model fine-tuned from three starts at equal budget.

    .venv/bin/python experiments/reconstruction.py [--pretrained runs/corr] [--out runs/recon] [--steps 1200] \
        [--camera-weight 1.0] [--lr 3e-4] [--path walk] [--seed 0]

Needs the two pre-trained backbones of `experiments/correspondence.py` (`PRETRAINED/muskie`,
`PRETRAINED/framewise`). Fine-tunes the same reconstruction model (tiny backbone + 2 new alternating-attention
blocks + DPT and camera heads, recipe `muskie/configs/recon-tiny-cpu.yaml`) from
1. the Muskie pre-trained backbone, 2. the frame-wise pre-trained backbone, 3. a random backbone,
for the same number of steps on the same scenes with the same settings (all three at once, one thread each;
``--camera-weight``, ``--lr`` and ``--path`` override the recipe's 0.1, 1e-4 and ``rig`` for every arm), then
evaluates each on held-out synthetic scenes of the same camera path (pose AUC, median pair errors and
pointmap metrics) and on the real scenes of `../shared/data/real`
(pose AUC), and writes `OUT/summary.md`.
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
REAL_SCENES = ("templeRing", "dino", "dtu24")


def arms(pretrained: Path) -> dict[str, str | None]:
    return {
        "muskie": str(pretrained / "muskie" / "checkpoint-last.pt"),
        "framewise": str(pretrained / "framewise" / "checkpoint-last.pt"),
        "random": None,
    }


def run_all(commands: dict[str, list[str]], out: Path, stage: str) -> None:
    processes = {}
    for name, command in commands.items():
        log = open(out / f"{name}-{stage}.log", "a")
        processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    for name, process in processes.items():
        if process.wait() != 0:
            raise SystemExit(f"{stage} of the {name} arm failed; see {out / f'{name}-{stage}.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pretrained", default="runs/corr")
    parser.add_argument("--out", default="runs/recon")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--camera-weight", type=float, default=1.0, help="loss.camera_weight of every arm")
    parser.add_argument("--lr", type=float, default=3e-4, help="optim.lr of every arm")
    parser.add_argument("--path", default="walk", help="synthetic camera path to train and evaluate on")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="training seed of every arm (new layers' initialisation, scenes, crops); "
        "the evaluation samples do not change with it",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--real-data", default=str(REPO.parent / "shared" / "data" / "real"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    muskie = [sys.executable, "-m", "muskie", "recon"]

    train = {}
    for name, weights in arms(Path(args.pretrained)).items():
        if weights is not None and not Path(weights).is_file():
            raise SystemExit(f"{weights} not found: run experiments/correspondence.py first")
        command = muskie + [
            "train",
            "--recipe",
            "tiny-cpu",
            "--out",
            str(out / name),
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
            "--no-progress",
            "--set",
            f"loss.camera_weight={args.camera_weight}",
            "--set",
            f"optim.lr={args.lr}",
            "--set",
            f"data.synthetic_path={args.path}",
            "--seed",
            str(args.seed),
        ]
        train[name] = command + (["--backbone-weights", weights] if weights else [])
    run_all(train, out, "train")

    scenes = ["synthetic"] + [str(Path(args.real_data) / s) for s in REAL_SCENES if (Path(args.real_data) / s).is_dir()]
    evaluate = {
        name: muskie
        + [
            "eval",
            "--checkpoint",
            str(out / name / "checkpoint-last.pt"),
            "--scenes",
            *scenes,
            "--synthetic-path",
            args.path,
            "--samples",
            str(args.samples),
            "--views",
            "8",
            "--out",
            str(out / name / "eval"),
            "--threads",
            str(args.threads),
        ]
        for name in train
    }
    run_all(evaluate, out, "eval")

    lines = [
        "# Reconstruction experiment",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}.",
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        "",
        "Commands (each stage run for the three arms at once):",
        "",
        *[f"    muskie {' '.join(c[3:])}" for c in [*train.values(), *evaluate.values()]],
        "",
    ]
    for name in train:
        lines += [f"## Start: {name}", "", (out / name / "eval" / "recon_eval.md").read_text(), ""]
    (out / "summary.md").write_text("\n".join(lines))
    print(f"wrote {out / 'summary.md'}")


if __name__ == "__main__":
    main()
