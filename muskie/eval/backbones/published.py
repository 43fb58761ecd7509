"""The published frame-wise ViTs (DINOv2, DINOv3, MAE, CroCo v2; read by ``muskie.model.published``) as
evaluation backbones, named for tables."""

from __future__ import annotations

import os
from pathlib import Path

from muskie.eval.backbones.framewise import FramewiseFeatures
from muskie.model.published import FAMILIES, PlainViT, read_published_vit
from muskie.model.published.layout import size_name


def published_label(family: str, vit: PlainViT, path: str | os.PathLike) -> str:
    """``"DINOv2 ViT-B/14 reg4 (file.pth)"``: family, size, registers (DINOv2) or version (CroCo), file name."""
    config = vit.config
    size = size_name(config.dim, config.patch_size)
    if family == "croco":
        size = f"{'v2' if config.positions['kind'] == 'grid_rope' else 'v1'} {size}"
    registers = f" reg{config.num_registers}" if family == "dinov2" and config.num_registers else ""
    return f"{FAMILIES[family]} {size}{registers} ({Path(path).name})"


def load_published(
    family: str, path: str | os.PathLike, resolution: int | None = None, name: str | None = None
) -> FramewiseFeatures:
    """The ViT of ``family`` in the file at ``path`` as an evaluation backbone (ImageNet normalisation;
    ``resolution`` as in :class:`FramewiseFeatures`: None runs on the Muskie grid)."""
    vit = read_published_vit(family, path)
    return FramewiseFeatures(vit, name=name or published_label(family, vit, path), resolution=resolution)
