"""Frame-wise ViTs from the files their authors publish: DINOv2, DINOv3, MAE, CroCo v2 (no download).

Each family has a reader (``dinov2.read_dinov2``, ``dinov3.read_dinov3``, ``mae.read_mae``,
``croco.read_croco``) that reads the file without unpickling, checks its key layout and shapes before
anything is allocated (``layout``), and returns a :class:`~muskie.model.published.plain_vit.PlainViT`. The
correspondence evaluations run them as feature backbones (``muskie.eval.backbones``), the reconstruction
model as its encoder (``muskie.recon.encoders``).
"""

from __future__ import annotations

import importlib
import os

from muskie.model.published.plain_vit import PlainViT

# family -> its title in messages and tables
FAMILIES = {"dinov2": "DINOv2", "dinov3": "DINOv3", "mae": "MAE", "croco": "CroCo"}


def read_published_vit(family: str, path: str | os.PathLike) -> PlainViT:
    """The ViT of ``family`` (a key of :data:`FAMILIES`) held by the file at ``path``; its reader module is
    imported only now. ValueError for an unknown family or a file of another layout, FileNotFoundError for a
    missing file."""
    if family not in FAMILIES:
        raise ValueError(f"unknown ViT family {family!r}; choose one of {', '.join(FAMILIES)}")
    module = importlib.import_module(f"muskie.model.published.{family}")
    return getattr(module, f"read_{family}")(path)


__all__ = ["FAMILIES", "PlainViT", "read_published_vit"]
