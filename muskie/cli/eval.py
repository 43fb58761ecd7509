"""``muskie eval``: evaluations of backbones, one sub-command each (``muskie eval correspondence ...``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from muskie.cli import eval_masked_views, eval_probe
from muskie.cli.arguments import (
    add_device_argument,
    add_precision_argument,
    add_progress_argument,
    finite,
    image_side,
    path,
)
from muskie.cli.main import CommandError, add_backbone_argument, add_synthetic_mix_argument, synthetic_mix_from_file


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate backbones (correspondence, masked-view reconstruction, depth and normal probes)",
        description="Evaluations of pre-trained backbones; see each sub-command.",
    )
    evaluations = parser.add_subparsers(dest="evaluation", required=True, metavar="EVALUATION")
    _add_correspondence(evaluations)
    eval_masked_views.add_parser(evaluations)
    eval_probe.add_parser(evaluations)


def _add_correspondence(evaluations) -> None:
    from muskie.constants import OCCLUSION_TOLERANCE
    from muskie.eval.correspondence_options import BENCHMARKS, DISPLACEMENT_BINS, READOUTS, ROTATION_BINS

    parser = evaluations.add_parser(
        "correspondence",
        help="multi-view correspondence: 2D/3D track errors (depth) or epipolar distance (cameras only)",
        description="Matches 100 query pixels of view 0 into the other views with each backbone's features "
        "(nearest neighbour) and, for multi-view backbones, its cross-view attention (soft-argmax). Scenes with "
        "depth are scored against ground-truth tracks (2D and 3D error), scenes with cameras only by symmetric "
        "epipolar distance. Scored pairs are also binned by ground-truth displacement and by relative camera "
        "rotation. Prints markdown tables and writes OUT/results.md, OUT/results.json and one tracks PNG per "
        "backbone. See docs/correspondence.md.",
    )
    add_backbone_argument(parser)
    parser.add_argument(
        "--scenes",
        default="synthetic",
        type=path,
        help="'synthetic' (held-out test split) or a scene folder / folder of scenes / manifest",
    )
    parser.add_argument("--synthetic-path", default="rig", help="camera path of synthetic scenes")
    add_synthetic_mix_argument(parser)
    parser.add_argument(
        "--synthetic-split",
        choices=("val", "test"),
        default="test",
        help="held-out split of synthetic scenes: 'val' to choose settings, 'test' to report",
    )
    parser.add_argument(
        "--benchmark",
        choices=sorted(BENCHMARKS),
        default=None,
        help="read --scenes as this paper benchmark's root with the authors' sample selection "
        "(navi: dataset format navi; scannet: dataset format scannet)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="samples (cycling through the scenes; default 32), or with --benchmark the first N "
        "of its selection (default: all)",
    )
    parser.add_argument("--views", type=int, default=8, help="views per sample (view 0 is the query view)")
    parser.add_argument(
        "--size",
        type=image_side,
        nargs=2,
        metavar=("H", "W"),
        default=(64, 64),
        help="evaluated image size (multiples of each Muskie backbone's patch size)",
    )
    parser.add_argument("--queries", type=int, default=100, help="query pixels per sample")
    parser.add_argument(
        "--readout",
        nargs="+",
        choices=(*READOUTS, "both"),
        default=None,
        help="readouts to run ('both' = nn attention, the default; probe3d protocol: nn): nn "
        "(features of --block), nn-multi (concatenated normalised features of --layers), attention "
        "(--block), attention-all (averaged over every block: the paper's Muskie readout)",
    )
    parser.add_argument(
        "--protocol",
        choices=("tracks", "probe3d"),
        default="tracks",
        help="tracks: the paper's (queries of view 0 tracked through every view); probe3d: pairwise "
        "cosine nearest neighbours with the ratio test, recall binned by rotation",
    )
    parser.add_argument("--matches", type=int, default=1000, help="probe3d protocol: matches kept per pair")
    parser.add_argument(
        "--stride",
        type=int,
        default=4,
        help="probe3d protocol: candidate pixels every STRIDE px (probe3d's 1/4 resolution: 4)",
    )
    parser.add_argument("--block", type=int, default=-1, help="block to read (negative: from the end)")
    parser.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=None,
        metavar="BLOCK",
        help="blocks of the nn-multi readout (default: probe3d's, the last block of each quarter)",
    )
    parser.add_argument(
        "--pool-view0",
        action="store_true",
        help="also score view 0 against itself, as the authors' evaluation does (zero-error "
        "pairs: inflates accuracy; recorded in the results)",
    )
    parser.add_argument("--nn-metric", choices=("l2", "cosine"), default="l2", help="distance of the nn readouts")
    parser.add_argument("--temperature", type=finite, default=1e-4, help="attention soft-argmax temperature")
    parser.add_argument(
        "--tolerance",
        type=finite,
        default=OCCLUSION_TOLERANCE,
        help="occlusion tolerance in world units (depth protocol)",
    )
    parser.add_argument(
        "--min-texture",
        type=finite,
        default=0.03,
        help="query candidates without depth: grey std over 7x7 pixels at least this",
    )
    parser.add_argument(
        "--bins",
        type=finite,
        nargs="+",
        metavar="PX",
        default=list(DISPLACEMENT_BINS),
        help="lower edges of the ground-truth displacement bins in px, from 0; the last bin is open-ended",
    )
    parser.add_argument(
        "--rotation-bins",
        type=finite,
        nargs="+",
        metavar="DEG",
        default=list(ROTATION_BINS),
        help="lower edges of the relative camera rotation bins in degrees",
    )
    parser.add_argument(
        "--diagnostics",
        action="store_true",
        help="also measure the cross-view attention's same-cell share in every block and run the "
        "shifted-copy test (does a backbone follow content or copy positions?)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples and queries")
    parser.add_argument("--out", required=True, type=path, help="output folder")
    add_device_argument(parser)
    add_precision_argument(parser)
    add_progress_argument(parser)
    parser.set_defaults(run=run_correspondence)


def run_correspondence(args: argparse.Namespace) -> int:
    from muskie.eval.correspondence import CorrespondenceConfig, run_benchmark

    if (args.samples is not None and args.samples < 1) or args.views < 2 or args.queries < 1:
        raise CommandError("--samples and --queries must be >= 1 and --views >= 2")
    chosen = args.readout or (["nn"] if args.protocol == "probe3d" else ["both"])
    readouts = tuple(dict.fromkeys(r for name in chosen for r in (("nn", "attention") if name == "both" else (name,))))
    if args.protocol == "probe3d":
        return _run_pairwise(args, readouts)
    config = CorrespondenceConfig(
        num_queries=args.queries,
        readouts=readouts,
        block=args.block,
        layers=tuple(args.layers or ()),
        pool_view0=args.pool_view0,
        nn_metric=args.nn_metric,
        temperature=args.temperature,
        tolerance=args.tolerance,
        min_texture=args.min_texture,
        seed=args.seed,
        displacement_bins=tuple(args.bins),
        rotation_bins=tuple(args.rotation_bins),
    )
    results = run_benchmark(
        args.backbone,
        args.scenes,
        args.out,
        num_samples=args.samples,
        num_views=args.views,
        size=tuple(args.size),
        config=config,
        synthetic_path=args.synthetic_path,
        synthetic_mix=synthetic_mix_from_file(args.synthetic_mix),
        synthetic_split=args.synthetic_split,
        seed=args.seed,
        diagnostics=args.diagnostics,
        benchmark=args.benchmark,
        progress=not args.no_progress,
        device=args.device,
        precision=args.precision,
    )
    print(
        f"correspondence: {args.scenes}, {args.views} views, {args.size[0]}x{args.size[1]}, "
        f"{results[0].protocol} protocol\n"
    )
    print((Path(args.out) / "results.md").read_text())
    print(f"wrote {args.out}/results.md, results.json and {sum(bool(r.examples) for r in results)} tracks figure(s)")
    return 0


def _run_pairwise(args: argparse.Namespace, readouts: tuple[str, ...]) -> int:
    from muskie.eval.pairwise import PAIRWISE_READOUTS, PairwiseConfig, run_pairwise

    if any(r not in PAIRWISE_READOUTS for r in readouts):
        raise CommandError(f"--protocol probe3d reads features: --readout must be among {', '.join(PAIRWISE_READOUTS)}")
    if args.matches < 1 or args.stride < 1:
        raise CommandError("--matches and --stride must be >= 1")
    config = PairwiseConfig(
        readouts=readouts,
        block=args.block,
        layers=tuple(args.layers or ()),
        num_matches=args.matches,
        stride=args.stride,
    )
    run_pairwise(
        args.backbone,
        args.scenes,
        args.out,
        num_samples=args.samples,
        num_views=args.views,
        size=tuple(args.size),
        config=config,
        seed=args.seed,
        benchmark=args.benchmark,
        synthetic_path=args.synthetic_path,
        synthetic_mix=synthetic_mix_from_file(args.synthetic_mix),
        synthetic_split=args.synthetic_split,
        progress=not args.no_progress,
        device=args.device,
        precision=args.precision,
    )
    print((Path(args.out) / "results.md").read_text())
    print(f"wrote {args.out}/results.md and results.json")
    return 0
