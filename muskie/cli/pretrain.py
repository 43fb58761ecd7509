"""``muskie pretrain``: multi-view masked image modeling pre-training, or a peer recipe (see
muskie.pretraining.task and muskie.peers)."""

from __future__ import annotations

import argparse

from muskie.cli.arguments import add_device_argument, path
from muskie.cli.main import add_training_flags, layered_config_from_flags, run_training, set_threads
from muskie.train.config import recipe_names


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pre-train a Muskie backbone (or a peer recipe: MAE, MuM, CroCo)",
        description="Pre-train with multi-view masked image modeling, or with a peer recipe on the same data and "
        "budget (method mae, mum or croco: --recipe mae-tiny-cpu, or --set method=...). Settings come from the "
        "defaults (the paper's Muskie-B recipe), then --recipe, then the shorthand flags, then --set overrides. "
        "The resolved config is written to OUT/config.yaml; checkpoints to OUT/checkpoint-last.pt; an "
        "interrupted run resumes from it when started again with the same settings. A flag left out keeps the "
        "recipe's value; --print-config lists every key with its type and default.",
    )
    parser.add_argument(
        "--recipe", default=None, type=path, help=f"a named recipe ({', '.join(recipe_names())}) or a YAML file"
    )
    parser.add_argument("--preset", default=None, help="model preset (tiny, small, base, large, huge)")
    parser.add_argument(
        "--data",
        default=None,
        type=path,
        help="'synthetic', a scene folder, a folder of scene folders, or a manifest .json",
    )
    parser.add_argument("--out", default=None, type=path, help="output folder for checkpoints, logs and config")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps of the schedule")
    add_device_argument(parser, default=None)
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default=None,
        help="auto: bf16 where the device computes it natively, else fp32 (default of the recipe)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the run (default: the recipe's)")
    add_training_flags(parser, "--set optim.lr=1e-3 --set data.batch_size=8")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from muskie.pretraining.config import load_pretrain_config
    from muskie.pretraining.task import pretrain

    shorthand = {
        "model": args.preset,
        "data": {"source": args.data} if args.data is not None else None,
        "out_dir": args.out,
        "steps": args.steps,
        "device": args.device,
        "precision": args.precision,
        "seed": args.seed,
        "init_from": args.init_from,
    }
    config = layered_config_from_flags(load_pretrain_config, args.recipe, shorthand, args.overrides)
    set_threads(args.threads)
    return run_training(pretrain, config, args)
