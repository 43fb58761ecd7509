"""Facts used across the package, each defined once.

Image normalisation: images enter every model as float tensors in [-1, 1], obtained from [0, 1] pixels as
``(x - IMAGE_MEAN) / IMAGE_STD``.

Camera convention (everywhere in muskie): OpenCV axes (x right, y down, z forward), intrinsics ``K`` in
pixels with pixel centres at integer coordinates, poses stored camera-to-world (``cam_to_world``, 4x4). The
math that follows it lives in ``muskie.geometry``.
"""

IMAGE_MEAN = 0.5
IMAGE_STD = 0.5

NUM_REGISTER_TOKENS = 4
ROPE_BASE = 100.0


def normalize_image(x):
    """[0, 1] pixels -> [-1, 1] model input. Works on tensors and arrays of any shape."""
    return (x - IMAGE_MEAN) / IMAGE_STD


def denormalize_image(x):
    """[-1, 1] model input or prediction -> [0, 1] pixels (not clamped)."""
    return x * IMAGE_STD + IMAGE_MEAN
