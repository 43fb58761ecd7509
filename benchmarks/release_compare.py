"""muskie against the authors' release (github.com/leo-frank/Muskie) in one run: speed and numbers (issue 15).

    .venv/bin/python benchmarks/release_compare.py --git-dir DIR [--rev HEAD] [--what train infer equiv]
        [--preset small] [--batch 1] [--views 4] [--size 224] [--rounds 3] [--pairs 5] [--warmup 2]
        [--precision fp32] [--release-precision fp32] [--levers LIST] [--threads N] [--json OUT]

``DIR`` is a git directory of the release (a clone or a bare mirror): its ``models.py`` and ``util/`` at
``--rev`` are exported to a temporary folder and imported from there (they need ``einops``). Nothing of it
is kept. The model is the release's ``MultiViewCroco`` at the preset's shape (``tiny`` too: the class takes
any width, depth, heads and patch size).

``train``: one pre-training step each, forward + backward + AdamW (lr 2e-4, betas 0.9 / 0.95, weight decay
0.05: the release's recipe), on the same images. The release: ``model(x, mask_mode=("random",),
mask_ratio=(0.9,))`` (its own references, ``V//4 .. V//2`` per batch, and mask generator) and its loss;
muskie: the training task's step (``muskie.pretraining.pretraining_loss``: view shuffle, ``V//4 .. V//2``
references per scene, random masks at 0.9, the confidence-weighted loss; weight decay on weight matrices only)
with the ``--levers`` given (``levers.LEVERS``). ``infer``: no masks, no gradients: every block's features
(release ``get_latent_embeddings``, muskie ``MuskieBackbone``), and the whole forward with the pixel head
(release ``forward`` with every view a reference, ``Muskie``). Each of ``--rounds`` rounds is a fresh process
(allocator, threads and caches start anew) in which release and muskie alternate for ``--pairs`` pairs after
``--warmup`` warm-up calls (``paired.py``); a round's figure is the median over its pairs of release / muskie
(above 1: muskie is faster), the run's the median over rounds. Every figure is printed with the machine's CPU
capability (``muskie.devices.cpu_capability``).

``equiv``: the release's random initialisation (with a non-zero mask token), saved as the release saves its
weights (``{"model": state_dict}`` and bare), loaded by ``Muskie.from_pretrained`` strictly; then the same
images through both: pixels, confidences and every block's features without masks (float32 and float64), and
with one explicit mask (the release's mask generator replaced, for that call only, by one returning the mask
muskie gets): predictions, the masked reconstruction loss and its gradients. Exits 1 when a difference
exceeds its tolerance.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable

import torch
from levers import RELEASE_OPTIM, inference, inference_only, parse_levers, training_step
from paired import machine_facts, paired_ratio, synchronizer, time_paired

from muskie.constants import PRESET_SIZES
from muskie.devices import cpu_capability, resolve_device
from muskie.model import Muskie, MuskieBackbone, create_model, patchify, unpatchify
from muskie.pretraining import MaskConfig, confidence_weighted_loss, sample_patch_masks

RELEASE_FILES = ("models.py", "util/rope.py", "util/generate_mask.py", "util/misc.py")
WHATS = ("train", "infer", "equiv")


class ReleaseError(Exception):
    """The release cannot be read or imported: the message says what to do."""


def import_release(git_dir: str, rev: str, folder: str):
    """The release's ``models`` module, from ``RELEASE_FILES`` at ``rev`` of ``git_dir`` written into
    ``folder`` (put first on ``sys.path``)."""
    for name in RELEASE_FILES:
        shown = subprocess.run(["git", "-C", git_dir, "show", f"{rev}:{name}"], capture_output=True)
        if shown.returncode:
            reason = shown.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["git failed"]
            raise ReleaseError(
                f"{git_dir}: cannot read {name} at {rev} ({reason[0]}); give a git directory of the release"
            )
        os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(folder, name), "wb") as out:
            out.write(shown.stdout)
    open(os.path.join(folder, "util", "__init__.py"), "w").close()
    sys.path.insert(0, folder)
    try:
        return importlib.import_module("models")
    except ModuleNotFoundError as err:
        raise ReleaseError(
            f"the release's models.py imports {err.name}, which this Python lacks: pip install {err.name}"
        ) from None


def release_model(models, preset: str, num_ref: int) -> torch.nn.Module:
    """The release's ``MultiViewCroco`` at the shape of muskie's preset ``preset``."""
    return models.MultiViewCroco(**PRESET_SIZES[preset], num_ref=num_ref)


def precision_context(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def round_arms(models, args, device: torch.device) -> dict[str, Callable[[int], object]]:
    """The arms of one timing round, ``release_*`` and ``muskie_*`` of the same work."""
    torch.manual_seed(0)
    random.seed(0)
    b, v, s = args.batch, args.views, args.size
    images = (torch.rand(b, v, 3, s, s, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
    ours, theirs = precision_context(args.precision, device), precision_context(args.release_precision, device)
    if args.worker == "train":
        release = release_model(models, args.preset, num_ref=-1).to(device)
        optimizer = torch.optim.AdamW(release.parameters(), **RELEASE_OPTIM)

        def release_step(index: int) -> None:
            with theirs():
                loss = release(images, mask_mode=("random",), mask_ratio=(0.9,))[0]["loss"]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        random_masks = MaskConfig(modes=("random",))  # the release's mode and ratio, 0.9
        muskie_step = training_step(create_model(args.preset).to(device), images, args.levers, ours(), random_masks)
        return {"release": release_step, "muskie": muskie_step}
    forward = release_model(models, args.preset, num_ref=v).to(device).eval()  # every view a reference

    def release_features(index: int) -> object:
        with torch.no_grad(), theirs():
            return forward.get_latent_embeddings(images)

    def release_forward(index: int) -> object:
        with torch.no_grad(), theirs():
            return forward(images, mask_mode=("rectangle",), mask_ratio=(0.75,))

    backbone = MuskieBackbone(create_model(args.preset).config).to(device)
    return {
        "release_features": release_features,
        "muskie_features": inference(backbone, images, args.levers, ours()),
        "release_forward": release_forward,
        "muskie_forward": inference(create_model(args.preset).to(device), images, args.levers, ours()),
    }


def run_round(args) -> None:
    """One round in this (fresh) process: prints ``ROUND {json}`` with every arm's seconds, the load average
    and the CPU capability."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory(prefix="muskie_release_") as folder:
        arms = round_arms(import_release(args.git_dir, args.rev, folder), args, device)
        times = time_paired(arms, args.pairs, args.warmup, synchronizer(device))
    record = {"times": times, "load": os.getloadavg(), "capability": cpu_capability()}
    print("ROUND " + json.dumps(record), flush=True)


def timing(what: str, args, argv: list[str]) -> dict:
    """``--rounds`` fresh processes of ``what``; prints each round's and the run's ratios."""
    if what == "train":
        pairs = [("release", "muskie")]
    else:
        pairs = [("release_features", "muskie_features"), ("release_forward", "muskie_forward")]
    rounds = []
    for index in range(args.rounds):
        command = [sys.executable, os.path.abspath(__file__), *argv, "--worker", what]
        child = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in child.stdout.splitlines() if line.startswith("ROUND ")]
        if child.returncode or not lines:
            sys.stderr.write(child.stderr[-4000:])
            raise SystemExit(f"release_compare.py: round {index} of {what} failed (exit {child.returncode})")
        record = json.loads(lines[-1][len("ROUND ") :])
        rounds.append(record)
        figures = [
            f"{a} {statistics.median(record['times'][a]):.4f} s / {b} {statistics.median(record['times'][b]):.4f} s"
            f" = {paired_ratio(record['times'], a, b):.3f}"
            for a, b in pairs
        ]
        load = " ".join(f"{x:.1f}" for x in record["load"])
        print(f"  round {index}: {', '.join(figures)}  [CPU capability {record['capability']}; load {load}]")
    summary = {}
    for a, b in pairs:
        ratios = [paired_ratio(r["times"], a, b) for r in rounds]
        summary[f"{a}/{b}"] = statistics.median(ratios)
        print(
            f"{what}: {a} / {b} = {statistics.median(ratios):.3f} (median of {len(ratios)} rounds, "
            f"{min(ratios):.3f}-{max(ratios):.3f})  [CPU capability {cpu_capability()}]"
        )
    return {"rounds": rounds, "ratios": summary}


def relative_l2(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    ours, theirs = ours.detach().double(), theirs.detach().double()
    return float((ours - theirs).norm() / theirs.norm().clamp(min=1e-300))


def equivalence(models, args) -> dict[str, tuple[float, float]]:
    """name -> (difference, tolerance) of every comparison of ``equiv``; the release's model is seeded with 0."""
    torch.manual_seed(0)
    random.seed(0)
    release = release_model(models, args.preset, num_ref=0).eval()
    with torch.no_grad():
        release.mask_placeholder.normal_()  # zero at init: a non-zero token makes masking visible
    state = {key: value.clone() for key, value in release.state_dict().items()}
    checks: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="muskie_equiv_") as folder:
        for form, content in (("bare", state), ("model_dict", {"model": state})):
            path = os.path.join(folder, f"release_{form}.pth")
            torch.save(content, path)
            loaded = Muskie.from_pretrained(path)
            same = set(loaded.state_dict()) == set(state) and all(
                torch.equal(loaded.state_dict()[key], value) for key, value in state.items()
            )
            checks[f"load {form} .pth strictly: 1 if a tensor differs"] = (0.0 if same else 1.0, 0.0)
    ours = loaded.eval()
    p = ours.config.patch_size
    generator = torch.Generator().manual_seed(1)
    s = args.size
    inputs = {f"{s}x{s} B2 V4": (2, 4, s, s), f"{s}x{s + 2 * p} B2 V3": (2, 3, s, s + 2 * p)}
    # float32: RoPE tables (the release computes its angles in float32, muskie in float64) and summation order
    # differ in the last bits; float64 keeps only the release's float32 angles
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.float64, 1e-7)):
        rel, our = release.to(dtype), ours.to(dtype)
        for name, (b, v, h, w) in inputs.items():
            x = (torch.rand(b, v, 3, h, w, generator=generator, dtype=torch.float64) * 2 - 1).to(dtype)
            rel.num_ref = v  # every view a reference: nothing masked
            with torch.no_grad():
                _, _, pred, conf, mask = rel(x, mask_mode=("rectangle",), mask_ratio=(0.75,))
                features = rel.get_latent_embeddings(x)
                out = our(x)
            assert not mask.any()
            label = f"{str(dtype).split('.')[1]} no mask {name}"
            checks[f"{label}: pixels"] = (relative_l2(unpatchify(out.pred, p, h, w), pred), tolerance)
            checks[f"{label}: confidence"] = (relative_l2(unpatchify(out.confidence, p, h, w), conf), tolerance)
            worst = max(relative_l2(o.flatten(0, 1), t) for o, t in zip(out.features, features, strict=True))
            checks[f"{label}: features (worst block)"] = (worst, tolerance)
    release, ours = release.float(), ours.float()
    for name, (b, v, h, w) in inputs.items():
        x = torch.rand(b, v, 3, h, w, generator=generator) * 2 - 1
        num_ref, grid = 1, (h // p, w // p)
        mask = torch.zeros(b, v, *grid, dtype=torch.bool)
        mask[:, num_ref:] = sample_patch_masks(b * (v - num_ref), *grid, "random", 0.9, generator=generator).view(
            b, v - num_ref, *grid
        )
        release.num_ref = num_ref
        release.zero_grad(set_to_none=True)
        ours.zero_grad(set_to_none=True)
        generate = models.generate_connected_masks
        masked_views = mask[:, num_ref:].float()
        models.generate_connected_masks = lambda *a, **k: masked_views  # noqa: B023 (called before the next turn)
        try:
            losses, _, pred, conf, release_mask = release(x, mask_mode=("random",), mask_ratio=(0.9,))
        finally:
            models.generate_connected_masks = generate
        assert torch.equal(release_mask.bool(), mask.flatten(2))
        out = ours(x, patch_mask=mask)
        result = confidence_weighted_loss(out.pred, out.confidence, patchify(x, p), mask.flatten(2))
        # the release's loss adds 0.1 x its confidence penalty averaged over all patches (muskie: masked ones)
        release_reconstruction = losses["loss"] - 0.1 * losses["conf_reg"]
        release_reconstruction.backward()
        result.reconstruction.backward()
        label = f"float32 mask (1 reference, random 0.9) {name}"
        checks[f"{label}: pixels"] = (relative_l2(unpatchify(out.pred, p, h, w), pred), 1e-5)
        checks[f"{label}: confidence"] = (relative_l2(unpatchify(out.confidence, p, h, w), conf), 1e-5)
        checks[f"{label}: masked MSE"] = (relative_l2(result.masked_mse, losses["mse"]), 1e-5)
        checks[f"{label}: reconstruction loss"] = (relative_l2(result.reconstruction, release_reconstruction), 1e-5)
        theirs = dict(release.named_parameters())
        num = sum(float((q.grad.double() - theirs[k].grad.double()).square().sum()) for k, q in ours.named_parameters())
        den = sum(float(t.grad.double().square().sum()) for t in theirs.values())
        checks[f"{label}: gradients of the reconstruction loss"] = ((num / den) ** 0.5, 1e-4)
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--git-dir", required=True, help="a git directory of the release")
    parser.add_argument("--rev", default="HEAD", help="the release's revision")
    parser.add_argument("--what", nargs="+", choices=WHATS, default=list(WHATS))
    parser.add_argument("--preset", choices=list(PRESET_SIZES), default="small")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per timing")
    parser.add_argument("--pairs", type=int, default=5, help="alternating release / muskie pairs per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="muskie's")
    parser.add_argument("--release-precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--levers", type=parse_levers, default=(), help="muskie's levers, e.g. compile,fused")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", help="write every time and difference here")
    parser.add_argument("--worker", choices=["train", "infer"], help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    patch = PRESET_SIZES[args.preset]["patch_size"]
    if args.size % patch or min(args.batch, args.views, args.rounds, args.pairs) < 1 or args.warmup < 0:
        parser.error(f"need --size a multiple of {patch} (the patch size), --batch/--views/--rounds/--pairs >= 1")
    if "train" in (args.worker or args.what) and (only := inference_only(args.levers)):
        parser.error(f"--levers {','.join(only)} is for inference only: drop it or use --what infer")
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    try:
        if args.worker:
            run_round(args)
            return
        results = compare(args, argv, device)
    except ReleaseError as err:
        print(f"release_compare.py: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    if results.get("equiv_failed"):
        raise SystemExit(1)


def compare(args, argv: list[str], device: torch.device) -> dict:
    """Every ``--what`` in turn, printed; returns what ``--json`` writes."""
    results: dict = {"machine": machine_facts(device), "args": {k: v for k, v in vars(args).items() if k != "worker"}}
    with tempfile.TemporaryDirectory(prefix="muskie_release_") as folder:
        models = import_release(args.git_dir, args.rev, folder)  # checked here, before any round starts
        print(results["machine"])
        setting = (
            f"{args.preset} {args.batch}x{args.views} views {args.size}px, muskie {args.precision} "
            f"(levers: {', '.join(args.levers) or 'none'}), release {args.release_precision}"
        )
        for what in args.what:
            if what != "equiv":
                print(f"{what}, {setting}:")
                results[what] = timing(what, args, argv)
                continue
            checks = equivalence(models, args)
            print(f"equiv, {args.preset} (the release's random init; relative L2 differences):")
            for name, (difference, tolerance) in checks.items():
                flag = "  FAILED" if difference > tolerance else ""
                print(f"  {name}: {difference:.1e} (tolerance {tolerance:.0e}){flag}")
            results["equiv"] = {name: {"difference": d, "tolerance": t} for name, (d, t) in checks.items()}
            results["equiv_failed"] = [name for name, (d, t) in checks.items() if d > t]
    return results


if __name__ == "__main__":
    main()
