"""``muskie features``: per-view features (and cross-view attention) of a Muskie for downstream use, saved
as one ``.safetensors`` file (``muskie.features``)."""

from __future__ import annotations

import argparse

from muskie.cli.arguments import add_device_argument, add_progress_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "features",
        help="save per-view features of chosen blocks (and cross-view attention) to .safetensors",
        description="Runs a Muskie over every image of a folder (one scene) or of a scene source, the views of "
        "a scene in chunks of at most --batch-views views that attend to each other, and saves the patch "
        "features of the chosen blocks, (N, L, E) per block, optionally each chunk's cross-view attention, "
        "with the image grid, image names, chunks, size and model config in the file's metadata "
        "(muskie.features.read_features_metadata reads it).",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="Muskie weights: a training checkpoint, a save_pretrained folder, a released .pth, "
        "or a Hugging Face Hub repository org/name",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", metavar="DIR", help="a folder of images, read as one scene")
    source.add_argument("--scenes", metavar="S", help="a scene folder, a folder of scenes or a manifest")
    parser.add_argument(
        "--blocks",
        type=int,
        nargs="+",
        default=[-1],
        metavar="B",
        help="blocks whose features to save (negative: from the end; default: the last)",
    )
    parser.add_argument(
        "--attention",
        type=int,
        nargs="*",
        default=None,
        metavar="B",
        help="also save the cross-view attention of these blocks (no value: of --blocks)",
    )
    parser.add_argument(
        "--batch-views",
        type=int,
        default=8,
        metavar="N",
        help="at most N views of a scene go through the model together",
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="resize every image to H x W, multiples of the patch size (default: the images' "
        "own size, which must be one size)",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="let a released training checkpoint unpickle its arguments (only for files you trust)",
    )
    parser.add_argument("--out", required=True, metavar="F.safetensors", help="output file")
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from muskie.features import export_features

    attention = args.blocks if args.attention == [] else args.attention or ()
    out = export_features(
        args.checkpoint,
        args.out,
        images=args.images,
        scenes=args.scenes,
        blocks=args.blocks,
        attention_blocks=attention,
        batch_views=args.batch_views,
        size=tuple(args.size) if args.size else None,
        device=args.device,
        allow_pickle=args.allow_pickle,
        progress=not args.no_progress,
    )
    print(f"wrote {out}")
    return 0
