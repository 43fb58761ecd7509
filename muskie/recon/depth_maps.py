"""Per-view depth and confidence maps of a reconstruction, as arrays and as images.

Depth is z-depth in the model's unit of length (the unit of the written poses). Each view gets
``depth/<stem>.npy`` (float32, as predicted) and ``depth/<stem>.png``, a 16-bit PNG of ``round(depth /
step)``, 0 where the depth is not finite; one ``step`` serves the whole capture, the largest depth over
65535 (so the largest depth is stored as 65535 and every depth within ``step / 2``). ``depth/scale.json``
records the step (``depth_png_scale``); ``transforms.json`` records the same number as nerfstudio's
``depth_unit_scale_factor``, so :func:`muskie.data.sources.load_scenes` reads the depth back. Confidence
in (0, 1) goes to ``confidence/<stem>.npy`` (float32) and ``confidence/<stem>.png`` (8-bit grey,
``round(255 * confidence)``, a picture to look at).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DEPTH_DIR = "depth"
CONFIDENCE_DIR = "confidence"
SCALE_NAME = "scale.json"
_LARGEST_STEP_COUNT = 65535


def depth_png_scale(depth: torch.Tensor) -> float:
    """The step of the 16-bit depth PNGs of ``depth (V, H, W)``: its largest finite positive value over
    65535 (1.0 when there is none)."""
    usable = depth[torch.isfinite(depth) & (depth > 0)]
    return float(usable.max()) / _LARGEST_STEP_COUNT if usable.numel() else 1.0


def write_depth_arrays(
    folder: str | Path, names: list[str], depth: torch.Tensor, confidence: torch.Tensor, scale: float
) -> None:
    """Write ``depth/<stem>.npy``, ``depth/scale.json`` (holding ``scale``, the step of the PNGs
    ``write_transforms_json`` writes beside them), ``confidence/<stem>.npy`` and ``confidence/<stem>.png``
    of ``depth, confidence (V, H, W)`` into ``folder``."""
    folder = Path(folder)
    (folder / DEPTH_DIR).mkdir(parents=True, exist_ok=True)
    (folder / CONFIDENCE_DIR).mkdir(parents=True, exist_ok=True)
    for view, name in enumerate(names):
        np.save(folder / DEPTH_DIR / f"{name}.npy", depth[view].float().numpy())
        np.save(folder / CONFIDENCE_DIR / f"{name}.npy", confidence[view].float().numpy())
        grey = np.round(confidence[view].clamp(0, 1).double().numpy() * 255).astype(np.uint8)
        Image.fromarray(grey).save(folder / CONFIDENCE_DIR / f"{name}.png")
    record = {
        "depth_png_scale": scale,
        "meaning": "z-depth = PNG value * depth_png_scale, in the unit of the poses; PNG value 0 = no depth",
        "arrays": "depth/<stem>.npy holds the float32 z-depth itself",
    }
    (folder / DEPTH_DIR / SCALE_NAME).write_text(json.dumps(record, indent=1) + "\n")
