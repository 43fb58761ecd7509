"""What the sub-commands' arguments share: the parser class whose help shows every option's default
(:class:`MuskieParser`), the ``--device``, ``--precision`` and ``--no-progress`` options, and argument types, so that a
user's slip is an argparse error (exit 2, one line naming the option) before anything runs: an empty path
(an unset shell variable), an image size of 0 or one no machine holds, a NaN or infinite number.

Nothing here imports torch: ``muskie ... --help`` parses without it."""

from __future__ import annotations

import argparse
import math

# The longest image side a command accepts: 8x the paper's largest training size, and a (3, H, W) float32
# image of 8192 x 8192 pixels already takes 800 MB.
MAX_IMAGE_SIDE = 8192


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends an option's text with ``(default: VALUE)``, unless the text already speaks of its
    default or there is none worth showing (a required option, None, an unset flag, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or action.required
            or not action.option_strings
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or (isinstance(default, (list, tuple)) and not default)
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})".lstrip()


class MuskieParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with :class:`DefaultsHelpFormatter`; the sub-command parsers of a
    MuskieParser are MuskieParsers too (argparse builds them of the parent's class)."""

    def __init__(self, *args, formatter_class=DefaultsHelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def add_device_argument(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """``--device NAME`` of a command that computes (``muskie.devices.resolve_device`` reads it); None as the
    default of a training command, whose recipe decides."""
    parser.add_argument(
        "--device",
        default=default,
        help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps"
        + ("" if default else "; default: the recipe's device (auto)"),
    )


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """``--precision`` of an evaluation (``muskie.devices.evaluation_precision`` reads it): float32 by default,
    so that a number does not depend on the machine that computed it."""
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="fp32",
        help="what the models compute in: fp32; bf16 (autocast, weights kept in float32: faster where the "
        "device has native bf16, numbers differ slightly); auto (bf16 where the device has it natively, "
        "else fp32). Scoring is in float32 or float64 either way; the results record the precision used",
    )


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--no-progress`` of a long command; the bar is also hidden when stderr is not a terminal
    (``muskie.progress``)."""
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none either when stderr is not a terminal)",
    )


def path(text: str) -> str:
    """A file or folder path that is not empty (``""`` would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path (an unset shell variable?)")
    return text


def image_side(text: str) -> int:
    """An image height or width in pixels: an integer in ``[1, MAX_IMAGE_SIDE]``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 1 <= value <= MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(f"an image side must be in 1..{MAX_IMAGE_SIDE} pixels, got {value}")
    return value


def finite(text: str) -> float:
    """A finite number (``nan``, ``inf`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value
