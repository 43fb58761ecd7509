"""muskie: multi-view masked image modeling for 3D vision pre-training."""

from muskie.loading import load_model
from muskie.model import Muskie, MuskieConfig, create_model

__version__ = "0.1.0"

__all__ = ["Muskie", "MuskieConfig", "create_model", "load_model"]
