"""Heads of the reconstruction model: one per file."""

from muskie.recon.heads.camera import CameraHead
from muskie.recon.heads.dpt import DPTHead

__all__ = ["CameraHead", "DPTHead"]
