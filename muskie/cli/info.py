"""``muskie info``: the model presets, their parameter counts and compute per view."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from muskie.cli.arguments import image_side
from muskie.model.config import PRESETS


@dataclass(frozen=True)
class PresetInfo:
    """One preset's size and cost: parameters (backbone, total with pixel head) and FLOPs per view of a
    forward pass and of a training step, for scenes of ``views`` views of ``height x width`` pixels."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    backbone_params: int
    total_params: int
    forward_flops_per_view: float
    train_flops_per_view: float


def preset_info(
    names: list[str] | None = None, views: int = 8, height: int = 224, width: int = 224
) -> list[PresetInfo]:
    """:class:`PresetInfo` of the named presets (all if None) at the given scene size."""
    from muskie.model.config import preset_config
    from muskie.model.flops import flops_per_view
    from muskie.model.muskie import parameter_counts

    rows = []
    for name in names or list(PRESETS):
        config = preset_config(name)
        if height % config.patch_size or width % config.patch_size:
            raise ValueError(
                f"preset {name}: image size {height}x{width} is not a multiple of its patch size {config.patch_size}"
            )
        backbone, total = parameter_counts(config)
        rows.append(
            PresetInfo(
                name=name,
                embed_dim=config.embed_dim,
                depth=config.depth,
                num_heads=config.num_heads,
                patch_size=config.patch_size,
                backbone_params=backbone,
                total_params=total,
                forward_flops_per_view=flops_per_view(config, views, height, width),
                train_flops_per_view=flops_per_view(config, views, height, width, training=True),
            )
        )
    return rows


def format_table(rows: list[PresetInfo], views: int, height: int, width: int) -> str:
    """A plain-text table of ``rows``, with a title naming the scene size."""
    header = (
        "preset",
        "width",
        "AA blocks",
        "heads",
        "patch",
        "backbone M",
        "total M",
        "fwd GFLOP/view",
        "train GFLOP/view",
    )
    lines = [
        (
            r.name,
            str(r.embed_dim),
            str(r.depth),
            str(r.num_heads),
            str(r.patch_size),
            f"{r.backbone_params / 1e6:.2f}",
            f"{r.total_params / 1e6:.2f}",
            f"{r.forward_flops_per_view / 1e9:.2f}",
            f"{r.train_flops_per_view / 1e9:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = [
        f"Muskie presets; FLOPs per view at {height}x{width} px in scenes of {views} views (training step = 3x forward)"
    ]
    for row in [header, *lines]:
        cells = enumerate(zip(row, widths, strict=True))
        text.append("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in cells))
    return "\n".join(text)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("info", help="list model presets, parameter counts and FLOPs per view")
    parser.add_argument("--preset", choices=list(PRESETS), help="show only this preset (default: all)")
    parser.add_argument("--views", type=int, default=8, help="views per scene")
    parser.add_argument(
        "--size", type=image_side, nargs=2, default=(224, 224), metavar=("H", "W"), help="image size in pixels"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    height, width = args.size
    rows = preset_info([args.preset] if args.preset else None, args.views, height, width)
    print(format_table(rows, args.views, height, width))
    return 0
