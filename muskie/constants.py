"""Facts used across the package, each defined once.

Image normalisation: images enter every model as float tensors in [-1, 1], obtained from [0, 1] pixels as
``(x - IMAGE_MEAN) / IMAGE_STD``.

Camera convention (everywhere in muskie): OpenCV axes (x right, y down, z forward), intrinsics ``K`` in
pixels with pixel centres at integer coordinates, poses stored camera-to-world (``cam_to_world``, 4x4). The
math that follows it lives in ``muskie.geometry``.
"""

from typing import TypedDict

IMAGE_MEAN = 0.5
IMAGE_STD = 0.5

# The input normalisation of the published frame-wise ViTs (DINOv2, DINOv3, MAE, CroCo v2): ImageNet's
# per-channel statistics of [0, 1] pixels.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

NUM_REGISTER_TOKENS = 4
ROPE_BASE = 100.0

# The occlusion test's depth tolerance (``muskie.geometry.visible_in_view``), world units: 5 cm in metric scenes,
# as the correspondence benchmarks use.
OCCLUSION_TOLERANCE = 0.05


# The named model sizes: those of the released checkpoints (brief section 2; base and large are the paper's
# models) and ``tiny``, ours, small enough to pre-train in minutes on one CPU core at 64x64 pixels.
class PresetSize(TypedDict):
    """The shape of a named model size; the other ``MuskieConfig`` fields keep their defaults."""

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int


PRESET_SIZES: dict[str, PresetSize] = {
    "tiny": {"embed_dim": 128, "depth": 4, "num_heads": 4, "patch_size": 8},
    "small": {"embed_dim": 384, "depth": 6, "num_heads": 6, "patch_size": 16},
    "base": {"embed_dim": 768, "depth": 6, "num_heads": 12, "patch_size": 16},
    "large": {"embed_dim": 1024, "depth": 12, "num_heads": 16, "patch_size": 16},
    "huge": {"embed_dim": 1280, "depth": 16, "num_heads": 16, "patch_size": 16},
}


def normalize_image(x):
    """[0, 1] pixels -> [-1, 1] model input. Works on tensors and arrays of any shape."""
    return (x - IMAGE_MEAN) / IMAGE_STD


def denormalize_image(x):
    """[-1, 1] model input or prediction -> [0, 1] pixels (not clamped)."""
    return x * IMAGE_STD + IMAGE_MEAN
