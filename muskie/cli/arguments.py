"""Argument types the sub-commands share, so that a user's slip is an argparse error (exit 2, one line naming
the option) before anything runs: an empty path (an unset shell variable), an image size of 0 or one no
machine holds, a NaN or infinite number."""

from __future__ import annotations

import argparse
import math

# The longest image side a command accepts: 8x the paper's largest training size, and a (3, H, W) float32
# image of 8192 x 8192 pixels already takes 800 MB.
MAX_IMAGE_SIDE = 8192


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
