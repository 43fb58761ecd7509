"""muskie: multi-view masked image modeling for 3D vision pre-training."""

from muskie._version import __version__
from muskie.loading import load_model
from muskie.model import Muskie, MuskieConfig, create_model

__all__ = ["Muskie", "MuskieConfig", "__version__", "create_model", "load_model"]
