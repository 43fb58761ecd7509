"""``muskie pretrain``: multi-view masked image modeling pre-training (see muskie.train.pretrain)."""

from __future__ import annotations

import argparse
import logging

from muskie.cli.main import CommandError, layered_config_from_flags, set_threads
from muskie.train.config import load_pretrain_config, recipe_names


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pre-train a Muskie backbone",
        description="Pre-train with multi-view masked image modeling. Settings come from the defaults (the "
        "paper's Muskie-B recipe), then --recipe, then the shorthand flags, then --set overrides. The resolved "
        "config is written to OUT/config.yaml; checkpoints to OUT/checkpoint-last.pt; an interrupted run "
        "resumes from it when started again with the same settings.",
    )
    parser.add_argument("--recipe", default=None,
                        help=f"a named recipe ({', '.join(recipe_names())}) or a YAML file")
    parser.add_argument("--preset", default=None, help="model preset (tiny, small, base, large, huge)")
    parser.add_argument("--data", default=None,
                        help="'synthetic', a scene folder, a folder of scene folders, or a manifest .json")
    parser.add_argument("--out", default=None, help="output folder for checkpoints, logs and config")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps of the schedule")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set optim.lr=1e-3 --set data.batch_size=8")
    parser.add_argument("--stop-at-step", type=int, default=None,
                        help="stop (with a checkpoint) after this many steps; the schedule still spans --steps")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (with a checkpoint) after this much wall-clock time")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for the training process (torch.set_num_threads); default: torch's")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if OUT has a checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from muskie.train.pretrain import NonFiniteLossError, pretrain
    from muskie.train.run_folder import RunFolderBusyError

    shorthand = {
        "model": args.preset, "data": {"source": args.data} if args.data else None, "out_dir": args.out,
        "steps": args.steps, "device": args.device, "precision": args.precision, "seed": args.seed,
    }
    config = layered_config_from_flags(load_pretrain_config, args.recipe, shorthand, args.overrides)
    set_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        result = pretrain(config, resume=not args.no_resume, stop_at_step=args.stop_at_step,
                          max_minutes=args.max_minutes, progress=not args.no_progress)
    except (NonFiniteLossError, RunFolderBusyError) as err:
        raise CommandError(str(err)) from None
    print(f"stopped at step {result.step}/{config.steps}; checkpoint: {result.checkpoint}")
    if result.step >= config.steps:
        print(f"final weights: {result.out_dir / 'model'} (load with Muskie.from_pretrained)")
    return 0
