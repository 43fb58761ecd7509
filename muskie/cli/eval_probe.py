"""``muskie eval probe``: frozen-feature depth and surface-normal probes on synthetic scenes (see
``muskie.eval.probes``)."""

from __future__ import annotations

import argparse

from muskie.cli.arguments import (
    add_device_argument,
    add_precision_argument,
    add_progress_argument,
    finite,
    image_side,
    path,
)
from muskie.cli.main import CommandError, add_backbone_argument, add_synthetic_mix_argument, synthetic_mix_from_file


def add_parser(evaluations) -> None:
    from muskie.eval.probe_config import HEADS, ProbeConfig

    defaults = ProbeConfig()
    parser = evaluations.add_parser(
        "probe",
        help="depth / surface-normal probes trained on frozen features (probe3d style)",
        description="Trains a small dense probe on each backbone's frozen features of synthetic train-split "
        "views for a fixed number of steps and scores it on held-out test-split scenes: depth (scale-invariant "
        "log loss; AbsRel and delta<1.25 after per-view median scaling) and camera-frame surface normals "
        "(angular loss; mean angle and % within 11.25/22.5/30 degrees). A constant-feature floor is the "
        "first row. Prints the tables and writes OUT/probes.md and OUT/probes.json. See docs/probes.md.",
    )
    add_backbone_argument(parser)
    parser.add_argument("--task", choices=("depth", "normals", "both"), default="both", help="probes to train")
    parser.add_argument("--samples", type=int, default=defaults.num_samples, help="training samples (train split)")
    parser.add_argument(
        "--test-samples", type=int, default=None, help="scored samples (test split; default: as many as --samples)"
    )
    parser.add_argument("--views", type=int, default=defaults.num_views, help="views per sample")
    parser.add_argument(
        "--size",
        type=image_side,
        nargs=2,
        metavar=("H", "W"),
        default=defaults.size,
        help="image size (multiples of each Muskie backbone's patch size)",
    )
    parser.add_argument("--synthetic-path", default=defaults.synthetic_path, help="camera path of the scenes")
    add_synthetic_mix_argument(parser)
    parser.add_argument(
        "--blocks",
        type=int,
        nargs="+",
        default=list(defaults.blocks),
        help="blocks whose features are concatenated (negative: from the end)",
    )
    parser.add_argument("--head", choices=HEADS, default=defaults.head, help="probe head")
    parser.add_argument("--hidden", type=int, default=defaults.hidden, help="width of the conv head")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="probe training steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="training views per step")
    parser.add_argument("--lr", type=finite, default=defaults.lr, help="AdamW learning rate")
    parser.add_argument("--weight-decay", type=finite, default=defaults.weight_decay, help="AdamW weight decay")
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps, help="linear warm-up steps")
    parser.add_argument("--no-floor", action="store_true", help="leave out the constant-feature floor")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the samples and the probes")
    add_device_argument(parser)
    add_precision_argument(parser)
    parser.add_argument("--out", required=True, type=path, help="output folder")
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from muskie.eval.probe_config import TASKS, ProbeConfig
    from muskie.eval.probes import markdown_table, run_probes

    try:
        config = ProbeConfig(
            tasks=TASKS if args.task == "both" else (args.task,),
            num_samples=args.samples,
            num_test_samples=args.test_samples,
            num_views=args.views,
            size=tuple(args.size),
            synthetic_path=args.synthetic_path,
            synthetic_mix=tuple(synthetic_mix_from_file(args.synthetic_mix)),
            blocks=tuple(args.blocks),
            head=args.head,
            hidden=args.hidden,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            warmup_steps=args.warmup_steps,
            seed=args.seed,
        )
    except ValueError as err:
        raise CommandError(str(err)) from None
    results = run_probes(
        args.backbone,
        args.out,
        config,
        device=args.device,
        include_constant=not args.no_floor,
        progress=not args.no_progress,
        precision=args.precision,
    )
    scenes = f"a {len(config.synthetic_mix)}-kind synthetic mixture" if config.synthetic_mix else config.synthetic_path
    print(
        f"probes: {scenes}, {config.num_samples} train / {config.test_samples} test "
        f"samples x {config.num_views} views, {args.size[0]}x{args.size[1]}, {config.steps} steps\n"
    )
    print(markdown_table(results))
    print(f"wrote {args.out}/probes.md and probes.json")
    return 0
