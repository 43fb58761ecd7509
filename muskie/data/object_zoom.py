"""Object zoom for object-centric captures (CO3D, WildRGB-D): the crop that frames an object's mask.

The paper zooms into the object's box half of the time on these datasets, so the object, not the table it
stands on, fills the view. The crop has the output's aspect ratio, is centred on the mask's bounding box
with a margin around it, and is cut to fit the image (the largest crop of that aspect when the box is
larger).
"""

from __future__ import annotations

from pathlib import Path

import torch

from muskie.data.imageio import read_image
from muskie.data.transforms import CropBox

# fraction of the box's side added on each side of it
ZOOM_MARGIN = 0.1


def mask_box(mask_path: str | Path, image_size: tuple[int, int]) -> CropBox | None:
    """The bounding box of a mask's nonzero pixels, in the pixels of an image of ``image_size = (H, W)``
    (a mask of another size is scaled to it), or None for an empty mask.

    Raises:
        FileNotFoundError / ImageReadError: the mask cannot be read (``muskie.data.imageio``).
    """
    mask = read_image(mask_path).amax(dim=0) > 0
    rows, cols = torch.nonzero(mask.any(dim=1)), torch.nonzero(mask.any(dim=0))
    if len(rows) == 0:
        return None
    scale_y, scale_x = image_size[0] / mask.shape[0], image_size[1] / mask.shape[1]
    top, bottom = int(rows[0]) * scale_y, (int(rows[-1]) + 1) * scale_y
    left, right = int(cols[0]) * scale_x, (int(cols[-1]) + 1) * scale_x
    return CropBox(round(top), round(left), max(1, round(bottom - top)), max(1, round(right - left)))


def object_crop(
    box: CropBox, in_size: tuple[int, int], out_size: tuple[int, int], margin: float = ZOOM_MARGIN
) -> CropBox:
    """The crop of ``out_size``'s aspect ratio that frames ``box`` in an image of ``in_size = (H, W)``.

    The crop is the smallest of that aspect holding the box grown by ``margin`` of its side on each side,
    no larger than the image allows, centred on the box and moved inside the image.
    """
    in_h, in_w = in_size
    out_h, out_w = out_size
    largest = min(in_h / out_h, in_w / out_w)
    needed = max(box.height * (1 + 2 * margin) / out_h, box.width * (1 + 2 * margin) / out_w)
    scale = min(needed, largest)
    crop_h = min(in_h, max(1, round(out_h * scale)))
    crop_w = min(in_w, max(1, round(out_w * scale)))
    centre_y, centre_x = box.top + box.height / 2, box.left + box.width / 2
    top = min(max(round(centre_y - crop_h / 2), 0), in_h - crop_h)
    left = min(max(round(centre_x - crop_w / 2), 0), in_w - crop_w)
    return CropBox(top, left, crop_h, crop_w)
