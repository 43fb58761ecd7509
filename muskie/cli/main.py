"""The ``muskie`` command: a thin shell over the library. Each sub-command lives in its own module that
defines ``add_parser(subparsers)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command name -> module under muskie.cli
COMMANDS = {
    "synth": "synth",
    "pretrain": "pretrain",
    "reconstruct": "reconstruct",
    "info": "info",
    "eval": "eval",
    "pca": "pca",
    "recon": "recon",
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


def set_threads(threads: int | None) -> None:
    """Apply a ``--threads`` option: ``torch.set_num_threads`` unless None (torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise CommandError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
