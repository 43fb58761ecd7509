"""muskie: multi-view masked image modeling for 3D vision pre-training."""

__version__ = "0.1.0"
