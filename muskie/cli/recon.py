"""``muskie recon train|eval|predict``: feed-forward 3D reconstruction on a Muskie backbone
(see ``muskie.recon``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from muskie.cli.arguments import (
    add_device_argument,
    add_precision_argument,
    add_progress_argument,
    finite,
    image_side,
    path,
)
from muskie.cli.main import CommandError, add_training_flags, layered_config_from_flags, run_training, set_threads


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "recon",
        help="feed-forward 3D reconstruction: fine-tune, evaluate, predict",
        description="A pi3-style reconstruction model on a Muskie backbone: per-view pointmaps and cameras.",
    )
    commands = parser.add_subparsers(dest="recon_command", required=True, metavar="ACTION")
    _add_train(commands)
    _add_eval(commands)
    _add_predict(commands)


def _add_train(commands) -> None:
    from muskie.train.config import RECON_RECIPE_PREFIX, recipe_names

    parser = commands.add_parser(
        "train",
        help="fine-tune the reconstruction model",
        description="Fine-tune on scenes with depth and cameras. Settings: defaults, then --recipe, then the "
        "shorthand flags, then --set overrides (a flag left out keeps the recipe's value; --print-config lists "
        "every key with its type and default). Writes OUT/config.yaml, OUT/metrics.jsonl and "
        "OUT/checkpoint-last.pt; started again with the same settings, a run resumes.",
    )
    parser.add_argument(
        "--recipe",
        default=None,
        type=path,
        help=f"a named recipe ({', '.join(recipe_names(RECON_RECIPE_PREFIX))}) or a YAML file",
    )
    parser.add_argument(
        "--backbone-weights",
        default=None,
        type=path,
        help="start from these Muskie weights (training checkpoint, save_pretrained folder or "
        "released .pth); default: a random backbone of --preset",
    )
    parser.add_argument("--preset", default=None, help="backbone preset when starting from random weights")
    parser.add_argument("--freeze-backbone", action="store_true", help="train only the new blocks and heads")
    parser.add_argument("--data", default=None, type=path, help="'synthetic' or scene folder(s) with depth and cameras")
    parser.add_argument("--out", default=None, type=path, help="output folder")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimiser steps of the schedule; with a recipe that counts epochs, the run and its warm-up "
        "(optim.warmup_steps) are counted in steps instead",
    )
    add_device_argument(parser, default=None)
    parser.add_argument("--seed", type=int, default=None, help="seed of the run (default: the recipe's)")
    add_training_flags(parser, "--set data.num_views=4 --set optim.lr=1e-4")
    parser.set_defaults(run=run_train)


def _add_eval(commands) -> None:
    from muskie.eval.reconstruction_benchmark_settings import BENCHMARKS

    parser = commands.add_parser(
        "eval",
        help="pose AUC and pointmap metrics of a fine-tuned model",
        description="Scores a reconstruction checkpoint on held-out synthetic scenes and/or scene folders "
        "with cameras (pose AUC@5/15/30 over all view pairs; accuracy, completeness, overall and L1 after "
        "Umeyama + ICP alignment where depth is known), or on a paper benchmark (--benchmark: 7-Scenes or "
        "NRGBD keyframes, per scene and pooled; see docs/benchmarks.md). Writes OUT/recon_eval.md and "
        "OUT/recon_eval.json.",
    )
    predictor = parser.add_mutually_exclusive_group(required=True)
    predictor.add_argument("--checkpoint", type=path, help="a checkpoint written by `muskie recon train`")
    predictor.add_argument(
        "--oracle",
        action="store_true",
        help="with --benchmark: score the ground truth as the prediction (must give AUC 100 "
        "and zero point errors: checks the data and the scoring)",
    )
    parser.add_argument(
        "--scenes",
        nargs="+",
        type=path,
        default=["synthetic"],
        help="'synthetic' (a held-out split, see --synthetic-split) and/or scene folders, "
        "dataset roots or manifests; with --benchmark, the dataset's root",
    )
    parser.add_argument(
        "--benchmark",
        choices=sorted(BENCHMARKS),
        default=None,
        help="a paper benchmark: the keyframes of every test sequence of --scenes (7scenes-*: dataset format "
        "7scenes; nrgbd-*: format nrgbd); *-release: the authors' release's test sets, 50 seeded samples of 8 "
        "frames drawn near an anchor frame (--seed)",
    )
    parser.add_argument(
        "--stride",
        type=int,
        default=None,
        help="with --benchmark: keyframe stride instead of the benchmark's (recorded as an override)",
    )
    parser.add_argument(
        "--register-depth",
        action="store_true",
        help="7-Scenes benchmarks: register the raw depth.png to the colour camera in memory where "
        "depth.proj.png is missing",
    )
    parser.add_argument("--synthetic-path", default="rig", help="camera path of synthetic scenes")
    parser.add_argument("--synthetic-scenes", type=int, default=16, help="held-out synthetic scenes to draw from")
    parser.add_argument(
        "--synthetic-split",
        choices=("val", "test"),
        default="test",
        help="held-out split of the synthetic scenes: 'val' to choose settings, 'test' to report",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="samples per evaluation set (default 16); with a *-release benchmark, instead of its 50",
    )
    parser.add_argument("--views", type=int, default=8, help="views per sample")
    parser.add_argument(
        "--size",
        type=image_side,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="input size (default: the size the model was trained at)",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="samples per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples")
    add_device_argument(parser)
    add_precision_argument(parser)
    parser.add_argument("--out", required=True, type=path, help="output folder for the tables")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    add_progress_argument(parser)
    parser.set_defaults(run=run_eval)


def _add_predict(commands) -> None:
    parser = commands.add_parser(
        "predict",
        help="a folder of images -> cameras, depth, point cloud, COLMAP model, HTML viewer",
        description="Reconstructs all images of a folder (or its images/ subfolder), in one pass or, with "
        "--chunk-views, in chunks of views that share frames, aligned into the first chunk's frame. Writes "
        "OUT/transforms.json with OUT/images/ (the resized inputs), OUT/sparse/0/ (a COLMAP text model), "
        "OUT/depth/ (16-bit PNG, scale in depth/scale.json, and float32 .npy), OUT/confidence/ (.npy and PNG), "
        "OUT/points.ply (with confidence), OUT/viewer.html (opens offline) and OUT/render.png. Poses are in the "
        "first view's camera frame, in the model's unit of length.",
    )
    parser.add_argument("--checkpoint", required=True, type=path, help="a checkpoint written by `muskie recon train`")
    parser.add_argument("--images", required=True, type=path, help="folder of images")
    parser.add_argument("--out", required=True, type=path, help="output folder")
    parser.add_argument(
        "--size",
        type=image_side,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="input size, multiples of the patch size (default: the images' aspect ratio, long side as trained)",
    )
    parser.add_argument(
        "--chunk-views",
        type=int,
        default=None,
        metavar="N",
        help="reconstruct N views at a time (long captures); default: all in one pass",
    )
    parser.add_argument(
        "--chunk-overlap",
        type=int,
        default=None,
        metavar="K",
        help="views consecutive chunks share, used to align them (default: N // 3, at least 1)",
    )
    parser.add_argument(
        "--min-confidence",
        type=finite,
        default=0.0,
        help="leave less confident pixels out of the point cloud, COLMAP points and viewer",
    )
    add_device_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT (default: refuse it)")
    add_progress_argument(parser)
    parser.set_defaults(run=run_predict)


def run_train(args: argparse.Namespace) -> int:
    from muskie.recon.config import load_recon_config
    from muskie.recon.task import train_recon

    model = {
        "backbone_weights": args.backbone_weights,
        "backbone": args.preset,
        "freeze_backbone": True if args.freeze_backbone else None,
    }
    model = {key: value for key, value in model.items() if value is not None}
    shorthand = {
        "model": model or None,
        "data": {"source": args.data} if args.data is not None else None,
        "out_dir": args.out,
        "steps": args.steps,
        "device": args.device,
        "seed": args.seed,
        "init_from": args.init_from,
    }
    config = layered_config_from_flags(load_recon_config, args.recipe, shorthand, args.overrides)
    if args.steps is not None:  # --steps counts the run and its warm-up in steps, whatever the recipe counts
        config = dataclasses.replace(config, epochs=None, warmup_epochs=None)
    set_threads(args.threads)
    return run_training(train_recon, config, args)


def _load(checkpoint: str, device: str):
    """The reconstruction model of ``checkpoint`` in eval mode on ``device`` (a ``--device`` name), the image
    size (H, W) it was trained at (None when the file does not say) and the device. The file is read once."""
    from muskie.devices import resolve_device
    from muskie.loading import build_model
    from muskie.weights import read_weights

    target = resolve_device(device)
    weights = read_weights(checkpoint)
    if weights.model_class != "ReconModel":
        held = f"a {weights.task} checkpoint of a {weights.model_class}" if weights.task else f"a {weights.model_class}"
        raise CommandError(
            f"{checkpoint}: not a reconstruction checkpoint ({held}; a pre-training checkpoint? "
            "fine-tune it first with `muskie recon train --backbone-weights ...`)"
        )
    size = weights.metadata.get("image_size")
    return build_model(weights).to(target).eval(), tuple(size) if size else None, target


def run_eval(args: argparse.Namespace) -> int:
    from muskie.devices import evaluation_precision
    from muskie.eval.reconstruction import evaluate_recon, evaluation_dataset, markdown_table, write_tables

    set_threads(args.threads)
    if args.benchmark is not None:
        return _run_benchmark(args)
    if args.oracle or args.stride is not None or args.register_depth:
        raise CommandError("--oracle, --stride and --register-depth need --benchmark")
    model, trained, device = _load(args.checkpoint, args.device)
    precision = evaluation_precision(args.precision, device)
    size = tuple(args.size) if args.size else trained
    if size is None:
        raise CommandError(f"{args.checkpoint} does not record the image size it was trained at; pass --size H W")
    results = {}
    for source in args.scenes:
        name = f"synthetic-{args.synthetic_split}-{args.synthetic_path}" if source == "synthetic" else source
        dataset = evaluation_dataset(source, args.synthetic_path, args.synthetic_scenes, args.synthetic_split)
        results[name] = evaluate_recon(
            model,
            dataset,
            16 if args.samples is None else args.samples,
            args.views,
            size,
            args.seed,
            device,
            args.batch_size,
            progress=not args.no_progress,
            desc=f"scoring {name}",
            precision=precision,
        )
    meta = {
        "checkpoint": str(args.checkpoint),
        "seed": args.seed,
        "device": str(device),
        "precision": precision,
        "pose": "AUC (%) of max(rotation, translation-direction) error over all view pairs, no alignment",
        "points": "GT units, after Umeyama similarity + ICP; n/a without depth",
    }
    markdown, json_path = write_tables(results, args.out, meta)
    print(markdown_table(results), end="")
    print(f"wrote {markdown} and {json_path}")
    return 0


def _run_benchmark(args: argparse.Namespace) -> int:
    from muskie.devices import evaluation_precision
    from muskie.eval.reconstruction_benchmarks import (
        benchmark_samples,
        benchmark_settings,
        evaluate_benchmark,
        get_benchmark,
        markdown_table,
        model_predictor,
        oracle_prediction,
        write_benchmark_report,
    )

    if len(args.scenes) != 1 or args.scenes[0] == "synthetic":
        raise CommandError(f"--benchmark {args.benchmark} needs --scenes ROOT: one dataset root")
    if args.stride is not None and args.stride < 1:
        raise CommandError(f"--stride must be >= 1, got {args.stride}")
    benchmark = get_benchmark(args.benchmark)
    if benchmark.window is not None and args.stride is not None:
        raise CommandError(f"--stride does not apply to --benchmark {benchmark.name}: it draws windows of frames")
    if args.samples is not None:
        if benchmark.window is None:
            raise CommandError(f"--samples does not apply to --benchmark {benchmark.name}: one sample per sequence")
        if args.samples < 1:
            raise CommandError(f"--samples must be >= 1, got {args.samples}")
    precision = None
    if args.oracle:
        if args.precision != "fp32":
            raise CommandError("--precision does not apply to --oracle (there is no model to run)")
        if args.size is None:
            raise CommandError("--oracle needs --size H W (there is no model to take it from)")
        predict, size, predictor = oracle_prediction, tuple(args.size), "oracle: the ground truth"
    else:
        model, trained, device = _load(args.checkpoint, args.device)
        precision = evaluation_precision(args.precision, device)
        size = tuple(args.size) if args.size else trained
        if size is None:
            raise CommandError(f"{args.checkpoint} does not record the image size it was trained at; pass --size H W")
        patch = model.patch_size
        if size[0] % patch or size[1] % patch:
            raise CommandError(f"--size {size[0]} {size[1]} is not a multiple of the model's patch size {patch}")
        predict, predictor = model_predictor(model, device, precision), f"checkpoint {args.checkpoint}"
    samples, left_out = benchmark_samples(
        benchmark, args.scenes[0], size, args.stride, args.register_depth, not args.no_progress, args.seed, args.samples
    )
    result = evaluate_benchmark(predict, samples, progress=not args.no_progress)
    settings = benchmark_settings(
        benchmark, size, args.stride, predictor, args.register_depth, left_out, args.seed, args.samples
    )
    if precision is not None:
        settings.update(device=str(device), precision=precision)
    markdown, json_path = write_benchmark_report(result, settings, args.out)
    print(markdown_table(result), end="")
    print(f"wrote {markdown} and {json_path}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from muskie.outputs import check_output_folder
    from muskie.recon.chunks import checked_overlap
    from muskie.recon.predict import predict_folder

    check_output_folder(args.out, inputs=[args.images], overwrite=args.overwrite)  # before the model is read
    if args.chunk_overlap is not None and args.chunk_views is None:
        raise CommandError("--chunk-overlap needs --chunk-views")
    if args.chunk_views is not None:
        try:
            checked_overlap(args.chunk_views, args.chunk_overlap)
        except ValueError as err:
            raise CommandError(f"--chunk-views / --chunk-overlap: {err}") from None
    model, trained, device = _load(args.checkpoint, args.device)
    if args.size is None and trained is None:
        raise CommandError(f"{args.checkpoint} does not record the image size it was trained at; pass --size H W")
    print(f"reconstructing the images of {args.images} on {device}", file=sys.stderr)
    paths = predict_folder(
        model,
        args.images,
        args.out,
        tuple(args.size) if args.size else None,
        device,
        args.min_confidence,
        long_side=max(trained or args.size),
        overwrite=args.overwrite,
        chunk_views=args.chunk_views,
        chunk_overlap=args.chunk_overlap,
        progress=not args.no_progress,
    )
    for kind, written in paths.items():
        print(f"{kind}: {written}")
    return 0
