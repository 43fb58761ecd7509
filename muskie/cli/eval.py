"""``muskie eval``: evaluations of backbones, one sub-command each (``muskie eval correspondence ...``)."""

from __future__ import annotations

import argparse

from muskie.cli import eval_masked_views, eval_probe
from muskie.cli.arguments import finite, image_side, path
from muskie.cli.main import (CommandError, add_backbone_argument, add_synthetic_mix_argument,
                             synthetic_mix_from_file)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate backbones (correspondence, masked-view reconstruction, "
                                   "depth and normal probes)",
                                   description="Evaluations of pre-trained backbones; see each sub-command.")
    evaluations = parser.add_subparsers(dest="evaluation", required=True, metavar="EVALUATION")
    _add_correspondence(evaluations)
    eval_masked_views.add_parser(evaluations)
    eval_probe.add_parser(evaluations)


def _add_correspondence(evaluations) -> None:
    from muskie.geometry import OCCLUSION_TOLERANCE

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
    parser.add_argument("--scenes", default="synthetic", type=path,
                        help="'synthetic' (held-out test split) or a scene folder / folder of scenes / manifest")
    parser.add_argument("--synthetic-path", default="rig", help="camera path of synthetic scenes")
    add_synthetic_mix_argument(parser)
    parser.add_argument("--synthetic-split", choices=("val", "test"), default="test",
                        help="held-out split of synthetic scenes: 'val' to choose settings, 'test' to report")
    parser.add_argument("--samples", type=int, default=32, help="samples (cycling through the scenes)")
    parser.add_argument("--views", type=int, default=8, help="views per sample (view 0 is the query view)")
    parser.add_argument("--size", type=image_side, nargs=2, metavar=("H", "W"), default=(64, 64),
                        help="evaluated image size (multiples of each Muskie backbone's patch size)")
    parser.add_argument("--queries", type=int, default=100, help="query pixels per sample")
    parser.add_argument("--readout", choices=("nn", "attention", "both"), default="both")
    parser.add_argument("--block", type=int, default=-1, help="block to read (negative: from the end)")
    parser.add_argument("--nn-metric", choices=("l2", "cosine"), default="l2")
    parser.add_argument("--temperature", type=finite, default=1e-4, help="attention soft-argmax temperature")
    parser.add_argument("--tolerance", type=finite, default=OCCLUSION_TOLERANCE,
                        help="occlusion tolerance in world units (depth protocol)")
    parser.add_argument("--min-texture", type=finite, default=0.03,
                        help="query candidates without depth: grey std over 7x7 pixels at least this")
    parser.add_argument("--bins", type=finite, nargs="+", metavar="PX", default=None,
                        help="lower edges of the ground-truth displacement bins in px, from 0; the last bin is "
                        "open-ended (default: 0 4 8 16)")
    parser.add_argument("--rotation-bins", type=finite, nargs="+", metavar="DEG", default=None,
                        help="lower edges of the relative camera rotation bins in degrees (default: 0 30 60 90 120)")
    parser.add_argument("--diagnostics", action="store_true",
                        help="also measure the cross-view attention's same-cell share in every block and run the "
                        "shifted-copy test (does a backbone follow content or copy positions?)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=path, help="output folder")
    parser.set_defaults(run=run_correspondence)


def run_correspondence(args: argparse.Namespace) -> int:
    from muskie.eval.correspondence import (
        DISPLACEMENT_BINS,
        ROTATION_BINS,
        CorrespondenceConfig,
        markdown_table,
        run_benchmark,
    )

    if args.samples < 1 or args.views < 2 or args.queries < 1:
        raise CommandError("--samples and --queries must be >= 1 and --views >= 2")
    readouts = ("nn", "attention") if args.readout == "both" else (args.readout,)
    config = CorrespondenceConfig(num_queries=args.queries, readouts=readouts, block=args.block,
                                  nn_metric=args.nn_metric, temperature=args.temperature, tolerance=args.tolerance,
                                  min_texture=args.min_texture, seed=args.seed,
                                  displacement_bins=tuple(args.bins or DISPLACEMENT_BINS),
                                  rotation_bins=tuple(args.rotation_bins or ROTATION_BINS))
    results = run_benchmark(args.backbone, args.scenes, args.out, num_samples=args.samples, num_views=args.views,
                            size=tuple(args.size), config=config, synthetic_path=args.synthetic_path,
                            synthetic_mix=synthetic_mix_from_file(args.synthetic_mix),
                            synthetic_split=args.synthetic_split, seed=args.seed, diagnostics=args.diagnostics)
    print(f"correspondence: {args.scenes}, {args.samples} samples x {args.views} views, "
          f"{args.size[0]}x{args.size[1]}, {results[0].protocol} protocol\n")
    print(markdown_table(results))
    print(f"wrote {args.out}/results.md, results.json and {sum(bool(r.examples) for r in results)} tracks figure(s)")
    return 0

