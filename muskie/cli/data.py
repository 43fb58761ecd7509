"""``muskie data``: list the dataset formats, index a dataset into a manifest, check it, and show view groups
as the model sees them (``muskie.data.formats``, ``muskie.data.indexing``, ``muskie.data.checks``,
``muskie.vis.sheet``)."""

from __future__ import annotations

import argparse
import os
import sys

from muskie.cli.arguments import add_progress_argument
from muskie.cli.main import CommandError

# the adapters import torch: their names are listed by `muskie data formats`, not in the help
FORMAT_HELP = "the dataset's format (`muskie data formats` lists them)"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="list formats, index, check and show datasets (manifests for training)",
        description="Dataset tools: list the dataset formats, index a dataset root into "
        "a manifest, check a manifest's conventions, draw a contact sheet of training "
        "samples.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    formats = actions.add_parser(
        "formats",
        help="the dataset formats --format and data.sources[].format take",
        description="List every dataset format: its name, the dataset, its default window "
        "of consecutive frames and whether object zoom applies.",
    )
    formats.set_defaults(run=run_formats)

    index = actions.add_parser(
        "index",
        help="index a dataset root into a manifest (v2)",
        description="Read every scene of ROOT with the format's adapter (camera files and "
        "image headers; no image is decoded), in parallel over scenes, and write the "
        "manifest that data.source or data.sources[].path can name.",
    )
    index.add_argument("root", metavar="ROOT", help="the dataset root")
    index.add_argument("--format", required=True, help=FORMAT_HELP)
    index.add_argument("--out", required=True, metavar="MANIFEST", help="the manifest .json to write")
    index.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes reading scenes (default: the CPU count)"
    )
    add_progress_argument(index)
    index.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read files that can only be unpickled (MegaDepth scene-info .npz; runs code from the "
        "file: trusted files only)",
    )
    index.add_argument(
        "--allow-outside", action="store_true", help="read files that the dataset's own files name outside its root"
    )
    index.set_defaults(run=run_index)

    check = actions.add_parser(
        "check",
        help="counts, image sizes, and convention checks on sampled frames",
        description="Print a manifest's counts and image sizes, and check sampled frames: "
        "image headers match the recorded sizes, intrinsics are "
        "sane, and depth reprojected into a neighbouring frame agrees with its depth "
        "(median relative error at most 5%). Exit status 1 when a check fails.",
    )
    check.add_argument("manifest", metavar="MANIFEST")
    check.add_argument("--samples", type=int, default=100, help="frames checked")
    check.add_argument("--seed", type=int, default=0, help="seed of the frame sample")
    add_progress_argument(check)
    check.set_defaults(run=run_check)

    show = actions.add_parser(
        "show",
        help="a contact sheet of view groups as the model sees them",
        description="Draw training samples of a dataset (its window, object zoom, random "
        "crop and resize), one row per view group, into a PNG.",
    )
    show.add_argument("source", metavar="MANIFEST", help="a manifest, or a dataset root read with --format")
    show.add_argument("--out", required=True, help="the PNG to write")
    show.add_argument("--format", default="auto", help=FORMAT_HELP + "; it sets the window and object zoom")
    show.add_argument("--groups", type=int, default=6, help="view groups (rows)")
    show.add_argument("--views", type=int, default=6, help="views per group")
    show.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=(224, 224), help="view size in pixels")
    show.add_argument("--seed", type=int, default=0, help="seed of the samples")
    add_progress_argument(show)
    show.set_defaults(run=run_show)


def run_formats(args: argparse.Namespace) -> int:
    from muskie.data.formats import FORMATS
    from muskie.report import markdown_table

    print(
        markdown_table(
            ["format", "dataset", "window", "object zoom"],
            [
                [f.name, f.title, str(f.window), "yes" if f.object_centric else "no"]
                for f in sorted(FORMATS.values(), key=lambda f: f.name)
            ],
        )
    )
    return 0


def run_index(args: argparse.Namespace) -> int:
    from muskie.data.indexing import index_dataset

    options = {name: True for name in ("allow_pickle", "allow_outside") if getattr(args, name)}
    summary = index_dataset(
        args.root, args.format, args.out, workers=args.workers, progress=not args.no_progress, options=options
    )
    for scene_id, error in summary.failed[:5]:
        print(f"muskie data index: skipped scene {scene_id}: {error}", file=sys.stderr)
    print(
        f"indexed {summary.scenes} scenes, {summary.frames} frames into {summary.manifest}"
        + (f"; {len(summary.failed)} scene(s) could not be read" if summary.failed else "")
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    from muskie.data.checks import check_manifest
    from muskie.report import markdown_table

    if args.samples < 1:
        raise CommandError(f"--samples must be >= 1, got {args.samples}")
    report = check_manifest(args.manifest, samples=args.samples, seed=args.seed, progress=not args.no_progress)
    sizes = ", ".join(f"{w}x{h} ({n})" for (w, h), n in report.image_sizes.most_common(3))
    more = len(report.image_sizes) - 3
    print(
        markdown_table(
            [
                "scenes",
                "frames",
                "with cameras",
                "with depth",
                "with masks",
                "metric scenes",
                "median depth",
                "image sizes (frames)",
            ],
            [
                [
                    report.scenes,
                    report.frames,
                    report.with_cameras,
                    report.with_depth,
                    report.with_masks,
                    report.metric_scenes,
                    "-" if report.median_depth is None else report.median_depth,
                    sizes + (f", {more} more" if more > 0 else ""),
                ]
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["check", "checked", "failed", "measure", "value", "result"],
            [
                [
                    c.name,
                    c.checked,
                    c.failed,
                    c.measure,
                    "-" if c.value is None else c.value,
                    "pass" if c.passed else "FAIL",
                ]
                for c in report.checks
            ],
        )
    )
    return 0 if report.passed else 1


def run_show(args: argparse.Namespace) -> int:
    from muskie.data.datasets import DatasetSourceConfig, evaluation_requests, open_source
    from muskie.data.formats import get_format
    from muskie.progress import progress_bar
    from muskie.vis.sheet import contact_sheet

    if min(args.groups, args.views, *args.size) < 1:
        raise CommandError("--groups, --views and --size must be positive")
    get_format(args.format)
    dataset = open_source(DatasetSourceConfig(path=args.source, format=args.format), images_only=True)
    longest = max(len(scene) for scene in dataset.scenes)
    if longest < args.views:
        raise CommandError(
            f"{args.source}: its longest scene has {longest} frame(s); ask for --views {longest} or fewer"
        )
    requests = evaluation_requests(dataset, args.groups, args.views, tuple(args.size), args.seed)
    bar = progress_bar(requests, desc="loading view groups", unit="group", enabled=not args.no_progress)
    contact_sheet([dataset[request] for request in bar]).save(args.out)
    print(f"wrote {args.groups} view groups of {args.views} views to {args.out}")
    return 0
