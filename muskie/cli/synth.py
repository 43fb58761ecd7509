"""``muskie synth``: render synthetic scenes to disk as ``transforms.json`` scene folders."""

from __future__ import annotations

import argparse

from muskie.cli.arguments import add_progress_argument, finite, image_side, path
from muskie.data.synthetic.config import DEPTH_FORMATS, PATH_KINDS, SPLIT_RANGES, SyntheticConfig


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic scenes (images, depth, cameras) as transforms.json folders",
        description="Render procedural scenes of a split into OUT/synthetic-<split>-NNNNNN/ folders: "
        "transforms.json (nerfstudio convention), images/NNN.png, depth/NNN.png (16-bit millimetres) or "
        "depth/NNN.npy (float32 metres).",
    )
    defaults = SyntheticConfig()
    parser.add_argument("--out", required=True, type=path, help="output folder (created if missing)")
    parser.add_argument("--scenes", type=int, required=True, help="number of scenes")
    parser.add_argument("--split", choices=list(SPLIT_RANGES), default="train", help="seed range")
    parser.add_argument("--first", type=int, default=0, help="index of the first scene in the split")
    parser.add_argument("--height", type=image_side, default=256, help="image height in pixels")
    parser.add_argument("--width", type=image_side, default=256, help="image width in pixels")
    parser.add_argument("--frames", type=int, default=defaults.num_frames, help="frames per scene")
    parser.add_argument("--path", choices=PATH_KINDS, default=defaults.camera_path, help="camera path")
    parser.add_argument("--overlap", type=finite, default=defaults.overlap, help="view overlap knob in (0, 1)")
    parser.add_argument(
        "--depth-format",
        choices=DEPTH_FORMATS,
        default="png",
        help="depth maps as 16-bit millimetre PNG or float32 metre .npy",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace scene folders that exist already (default: refuse them)"
    )
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from muskie.data.synthetic.writer import write_synthetic_scenes

    config = SyntheticConfig(camera_path=args.path, num_frames=args.frames, overlap=args.overlap)
    folders = write_synthetic_scenes(
        args.out,
        args.scenes,
        split=args.split,
        config=config,
        height=args.height,
        width=args.width,
        first_scene=args.first,
        depth_format=args.depth_format,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(
        f"wrote {len(folders)} scenes of {args.frames} frames ({args.height}x{args.width}, {args.path} path) "
        f"to {args.out}"
    )
    return 0
