"""``muskie pca``: the first three principal components of backbones' features over several views, as RGB."""

from __future__ import annotations

import argparse
from pathlib import Path

from muskie.cli.arguments import add_device_argument, add_progress_argument, image_side, path
from muskie.cli.main import CommandError, add_backbone_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pca",
        help="feature PCA of several views as RGB, one row per backbone",
        description="Fits the first three principal components jointly over the patch features of several "
        "views of one scene sample and shows them as RGB, side by side, one row per backbone. Consistent "
        "colours across views mean multi-view consistent features.",
    )
    add_backbone_argument(parser)
    parser.add_argument(
        "--scenes",
        default="synthetic",
        type=path,
        help="'synthetic' (held-out test split) or a scene folder / folder of scenes / manifest",
    )
    parser.add_argument("--synthetic-path", default="rig", help="camera path of synthetic scenes")
    parser.add_argument("--sample", type=int, default=0, help="which sample (scene index, cycling)")
    parser.add_argument("--views", type=int, default=4, help="views of the sample")
    parser.add_argument("--size", type=image_side, nargs=2, metavar=("H", "W"), default=(64, 64), help="image size")
    parser.add_argument("--block", type=int, default=-1, help="block to read (negative: from the end)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample's views")
    parser.add_argument("--out", required=True, type=path, help="output PNG file")
    add_device_argument(parser)
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def feature_pca_figure(
    backbones,
    scenes: str = "synthetic",
    sample: int = 0,
    views: int = 4,
    size: tuple[int, int] = (64, 64),
    block: int = -1,
    seed: int = 0,
    synthetic_path: str = "rig",
    device: str = "cpu",
    progress: bool = False,
):
    """The PCA figure (``muskie.vis.pca.pca_figure``) of backbone specs or backbones on one sample, the
    backbones computed on ``device`` (``muskie.devices.resolve_device``); ``progress`` shows bars over the
    samples loaded and the backbones (``muskie.progress``)."""
    from muskie.devices import resolve_device
    from muskie.eval.backbones import build_backbone
    from muskie.eval.backbones.on_device import on_device
    from muskie.eval.correspondence import load_samples
    from muskie.progress import progress_bar
    from muskie.vis.pca import pca_figure, pca_rgb

    target = resolve_device(device)
    data = load_samples(scenes, sample + 1, views, size, seed, synthetic_path, progress=progress)[sample]
    rows = []
    for entry in progress_bar(backbones, desc="computing features", unit="backbone", enabled=progress):
        backbone = on_device(build_backbone(entry) if isinstance(entry, str) else entry, target)
        features = backbone(data["images"][None], block=block).features[0]
        rows.append((backbone.name, pca_rgb(features)))
    return pca_figure(data["images"], rows, title=f"feature PCA, {scenes} sample {sample}, block {block}")


def run(args: argparse.Namespace) -> int:
    if args.views < 1 or args.sample < 0:
        raise CommandError("--views must be >= 1 and --sample >= 0")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CommandError(f"--out must be a .png file, got {out}")
    figure = feature_pca_figure(
        args.backbone,
        args.scenes,
        args.sample,
        args.views,
        tuple(args.size),
        args.block,
        args.seed,
        args.synthetic_path,
        args.device,
        progress=not args.no_progress,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(out)
    print(f"wrote {out}")
    return 0
