"""Device names as users give them (``auto``, ``cpu``, ``cuda``, ``cuda:N``) -> ``torch.device``."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` as a device; ValueError for
    a name torch does not know or CUDA asked for where there is none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device {name!r} is not a device name (auto, cpu, cuda or cuda:N): {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available")
    return device
