"""``muskie eval masked-views``: reconstruct masked views of held-out scenes, write figures and the error table
(see ``muskie.pretraining.masked_views``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from muskie.cli.arguments import add_device_argument, add_progress_argument, image_side, path
from muskie.cli.main import CommandError

DEFAULT_MODES = ("random", "rectangle", "ellipse")


def add_parser(evaluations) -> None:
    parser = evaluations.add_parser(
        "masked-views",
        help="reconstruct masked views with a checkpoint; figures and masked-patch error",
        description="Masks all but the first --refs views of each scene and reconstructs them. Prints the "
        "masked-pixel MSE (pixels in [0, 1]) with the reference views in the input, without them, with "
        "another scene's references (n/a when all samples come from one scene), and for the masked input alone "
        "(masked patches filled with the view's mean visible colour); writes OUT/metrics.md, OUT/metrics.json "
        "and one PNG per figure sample.",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        type=path,
        help="training checkpoint (.pt), save_pretrained folder, or released .pth",
    )
    parser.add_argument(
        "--scenes",
        default="synthetic",
        type=path,
        help="'synthetic' (held-out test split) or a scene folder / folder of scenes / manifest",
    )
    parser.add_argument("--synthetic-path", default="rig", help="camera path of synthetic scenes")
    parser.add_argument("--out", required=True, type=path, help="output folder")
    parser.add_argument(
        "--samples", type=int, default=32, help="samples to score (cycling through the scenes when there are fewer)"
    )
    parser.add_argument("--figures", type=int, default=4, help="scenes to draw (PNG each)")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per forward pass")
    parser.add_argument("--views", type=int, default=4, help="views per scene")
    parser.add_argument("--refs", type=int, default=2, help="reference views (fully visible) per scene")
    parser.add_argument(
        "--size",
        type=image_side,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="image size (default 64 64 for 8-pixel patches, else 224 224)",
    )
    parser.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES), help="mask modes to score")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples and masks")
    add_device_argument(parser)
    add_progress_argument(parser)
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow released training checkpoints that pickle Python objects (trusted files only)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from muskie.data.datasets import evaluation_batches, open_view_dataset
    from muskie.devices import resolve_device
    from muskie.loading import load_model
    from muskie.model import Muskie
    from muskie.pretraining.masked_views import evaluate_reconstruction, markdown_table
    from muskie.pretraining.masking import MASK_MODES, MaskConfig
    from muskie.progress import progress_bar
    from muskie.report import write_report
    from muskie.vis.reconstruction import reconstruction_figure

    unknown = [m for m in args.modes if m not in MASK_MODES]
    if unknown:
        raise CommandError(f"unknown mask mode(s) {unknown}; choose from {list(MASK_MODES)}")
    if args.views < 1 or not 0 <= args.refs < args.views:
        raise CommandError(f"--refs must be in [0, --views - 1]; got --views {args.views} --refs {args.refs}")
    if args.samples < 1 or args.batch_size < 1 or args.figures < 0:
        raise CommandError("--samples and --batch-size must be >= 1 and --figures >= 0")
    device = resolve_device(args.device)
    model = load_model(args.checkpoint, allow_pickle=args.allow_pickle, map_location=device)
    if not isinstance(model, Muskie):
        raise CommandError(
            f"{args.checkpoint}: holds a {type(model).__name__}; reconstructing masked views needs "
            "a pre-trained Muskie with its pixel head"
        )
    patch = model.config.patch_size
    height, width = args.size or ((64, 64) if patch <= 8 else (224, 224))
    if height % patch or width % patch:
        raise CommandError(f"--size {height} {width} is not a multiple of the model's patch size {patch}")
    # every scored sample is the one asked for: an unreadable image or a scene shorter than --views is an
    # error naming it, never silently replaced by another sample
    dataset = open_view_dataset(
        args.scenes, split="test", synthetic_path=args.synthetic_path, crop_scale=(1.0, 1.0), skip_bad=False
    )
    count = args.samples

    def batches(mode: str):
        return progress_bar(
            evaluation_batches(dataset, count, args.views, (height, width), args.seed, args.batch_size),
            total=math.ceil(count / args.batch_size),
            desc=f"reconstructing ({mode} masks)",
            unit="batch",
            enabled=not args.no_progress,
        )

    out_dir = Path(args.out)
    results = {}
    figures_written = []
    for mode in args.modes:
        keep = -(-args.figures // args.batch_size)
        scores, passes = evaluate_reconstruction(
            model, batches(mode), args.refs, mode, MaskConfig(), args.seed, device, keep_passes=keep
        )
        results[mode] = {k: (None if math.isnan(v) else v) for k, v in scores.mean().items()}
        drawn = 0
        for record in passes:
            for i in range(record.images.shape[0]):
                if drawn >= args.figures:
                    break
                ref_views = torch.arange(record.images.shape[1]) < record.num_ref
                figure = reconstruction_figure(
                    record.images[i],
                    record.mask[i],
                    record.pred[i],
                    record.confidence[i],
                    ref_views,
                    title=f"scene {drawn}, mask {mode}",
                )
                path = out_dir / f"sample_{drawn:03d}_{mode}.png"
                out_dir.mkdir(parents=True, exist_ok=True)  # only once a sample was scored: a refusal writes nothing
                figure.save(path)
                figures_written.append(str(path))
                drawn += 1

    summary = {
        "checkpoint": str(args.checkpoint),
        "scenes": args.scenes,
        "samples": count,
        "views": args.views,
        "refs": args.refs,
        "size": [height, width],
        "seed": args.seed,
        "pixel_range": "[0, 1]",
        "masked_mse": results,
        "figures": figures_written,
    }
    title = (
        f"masked-pixel MSE (pixels in [0,1]), {count} scenes, {args.views} views ({args.refs} references), "
        f"{height}x{width}"
    )
    table = markdown_table(results)
    write_report(out_dir, "metrics", f"{title}\n\n{table}\n", summary)
    print(title)
    print(table)
    print(f"wrote {out_dir / 'metrics.md'}, {out_dir / 'metrics.json'} and {len(figures_written)} figure(s)")
    return 0
