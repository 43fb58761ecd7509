"""muskie: multi-view masked image modeling for 3D vision pre-training.

``muskie.load_model``, ``muskie.Muskie``, ``muskie.MuskieConfig`` and ``muskie.create_model`` import torch
when first used, not on ``import muskie`` (see ``muskie.lazy_exports``)."""

from muskie._version import __version__
from muskie.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "muskie.loading": ("load_model",),
        "muskie.model": ("Muskie", "MuskieConfig", "create_model"),
    },
)

__all__ = ["Muskie", "MuskieConfig", "__version__", "create_model", "load_model"]
