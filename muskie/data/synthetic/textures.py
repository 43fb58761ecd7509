"""Face textures with natural-image statistics, and the mip-mapped atlas the ray caster samples.

Each face of a scene gets its own texture that spans the whole face without tiling, so a masked region
cannot be guessed from its surroundings and must be found in another view. Most textures are crops of
scikit-image's bundled CC0 photographs (they load offline), flipped, channel-permuted and recoloured; a
fraction are multi-octave value noise through a random colour palette.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# skimage.data photographs that ship with the package (no download). Synthetic patterns (checkerboard,
# colour wheel) are left out: they are predictable from their surroundings.
PHOTO_NAMES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "stereo_motorcycle",
)
# Crops whose pixel standard deviation (in [0, 1]) is below this are mostly flat (the black borders of
# retina and hubble_deep_field): redrawn a few times.
_MIN_CROP_STD = 0.06
_CROP_TRIES = 6
# Photos are stored downscaled to at most this side (pixels).
_MAX_PHOTO_SIDE = 512
# Number of mip levels kept per face (each halves the resolution; small faces repeat their last level).
MIP_LEVELS = 6


@functools.cache
def _photo(name: str) -> torch.Tensor:
    """One skimage photo as ``(C, H, W)`` float32 in [0, 1], C = 1 or 3, at most ``_MAX_PHOTO_SIDE`` pixels
    a side; loaded once per process."""
    import skimage.data

    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo pairs: keep the left view
        image = image[0]
    image = np.asarray(image, dtype=np.float32) / 255.0
    if image.ndim == 2:
        image = image[None]
    else:
        image = image[..., :3].transpose(2, 0, 1)
    image = torch.from_numpy(np.ascontiguousarray(image))
    scale = _MAX_PHOTO_SIDE / max(image.shape[1:])
    if scale < 1:  # textures never need more: keeps cropping and resizing cheap
        size = (round(image.shape[1] * scale), round(image.shape[2] * scale))
        image = F.interpolate(image[None], size=size, mode="area")[0]
    return image


def load_photos() -> list[torch.Tensor]:
    """All texture photographs, ``(C, H, W)`` float32 in [0, 1] (cached: loading happens once per process)."""
    return [_photo(name) for name in PHOTO_NAMES]


def _recolour(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random colour transform of ``(C, H, W)`` in [0, 1] -> ``(3, H, W)`` in [0, 1]."""
    if image.shape[0] == 1:
        # grey photo: map intensity along a random gradient between two colours
        low, high = rng.uniform(0.0, 0.35, 3), rng.uniform(0.65, 1.0, 3)
        if rng.random() < 0.5:
            low, high = high, low
        low = torch.tensor(low, dtype=torch.float32)[:, None, None]
        high = torch.tensor(high, dtype=torch.float32)[:, None, None]
        image = low + image * (high - low)
    else:
        image = image[torch.from_numpy(rng.permutation(3))]
        gain = torch.tensor(rng.uniform(0.7, 1.3, 3), dtype=torch.float32)[:, None, None]
        image = image * gain
    gamma = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    return image.clamp(0.0, 1.0) ** gamma


def photo_texture(rng: np.random.Generator, height: int, width: int) -> torch.Tensor:
    """A recoloured, randomly flipped crop of a random photo, resized to ``(3, height, width)`` in [0, 1].

    The crop has the texture's aspect ratio (as far as the photo allows) and covers 30-100% of the photo's
    shorter side, so texture detail varies in scale between faces.
    """
    photos = load_photos()
    for _ in range(_CROP_TRIES):
        photo = photos[rng.integers(len(photos))]
        photo_h, photo_w = photo.shape[1:]
        side = rng.uniform(0.3, 1.0) * min(photo_h, photo_w)
        aspect = width / height
        crop_h = int(np.clip(side / np.sqrt(aspect), 8, photo_h))
        crop_w = int(np.clip(side * np.sqrt(aspect), 8, photo_w))
        top = int(rng.integers(photo_h - crop_h + 1))
        left = int(rng.integers(photo_w - crop_w + 1))
        crop = photo[:, top : top + crop_h, left : left + crop_w]
        if float(crop[:, ::4, ::4].std()) >= _MIN_CROP_STD:  # a subsample tells flat from textured
            break
    texture = F.interpolate(crop[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]
    flips = [dim for dim, flip in zip((1, 2), rng.random(2) < 0.5, strict=True) if flip]
    if flips:
        texture = texture.flip(flips)
    return _recolour(texture, rng)


def noise_texture(rng: np.random.Generator, height: int, width: int) -> torch.Tensor:
    """Multi-octave value noise through a random 3-colour palette, ``(3, height, width)`` in [0, 1].

    Octaves start at a 3-6 cell grid and double in frequency with amplitude persistence 0.4-0.7, giving
    the 1/f-like spectrum of natural images.
    """
    octaves = int(rng.integers(4, 7))
    persistence = rng.uniform(0.4, 0.7)
    cells = int(rng.integers(3, 7))
    aspect = width / height
    field = torch.zeros(1, 1, height, width)
    amplitude = 1.0
    for _ in range(octaves):
        grid = torch.from_numpy(rng.standard_normal((1, 1, cells, max(2, round(cells * aspect)))).astype(np.float32))
        field += amplitude * F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        amplitude *= persistence
        cells *= 2
    field = field[0, 0]
    field = (field - field.min()) / (field.max() - field.min() + 1e-8)
    palette = torch.from_numpy(rng.uniform(0.0, 1.0, (3, 3)).astype(np.float32))  # (stops, rgb)
    # piecewise-linear palette: stops at 0, 0.5, 1
    position = field * 2.0
    lower = position.floor().clamp(0, 1).long()
    frac = (position - lower).clamp(0.0, 1.0)[..., None]
    colour = palette[lower] * (1 - frac) + palette[lower + 1] * frac
    return colour.permute(2, 0, 1).contiguous()


def random_texture(rng: np.random.Generator, height: int, width: int, noise_fraction: float) -> torch.Tensor:
    """A photo texture, or with probability ``noise_fraction`` a noise texture: ``(3, H, W)`` in [0, 1]."""
    if rng.random() < noise_fraction:
        return noise_texture(rng, height, width)
    return photo_texture(rng, height, width)


@dataclass
class TextureAtlas:
    """All face textures of a scene with their mip levels, packed for gather-based lookup.

    Attributes:
        texels: ``(T, 3)`` float32 RGB in [0, 1], every level of every face, each row-major.
        offset: ``(F, MIP_LEVELS)`` int64, first texel row of face f's level l.
        height, width: ``(F, MIP_LEVELS)`` int64, that level's size in texels.
        texel_size: ``(F,)`` float32, world size (metres) of one level-0 texel, used to pick the level.
    """

    texels: torch.Tensor
    offset: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    texel_size: torch.Tensor

    def to(self, device) -> TextureAtlas:
        return TextureAtlas(*(getattr(self, name).to(device) for name in self.__dataclass_fields__))

    def sample(self, face: torch.Tensor, u: torch.Tensor, v: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
        """Bilinear lookup in the mip level matching each sample's footprint.

        Args:
            face: ``(N,)`` int64 face ids; u, v: ``(N,)`` texture coordinates in [0, 1] (u across the width,
                v down the height); footprint: ``(N,)`` world size (metres) one image pixel covers there.

        Returns:
            ``(N, 3)`` float32 RGB in [0, 1].
        """
        ratio = footprint / self.texel_size[face]
        level = torch.log2(ratio.clamp_min(1.0)).round().long().clamp(0, MIP_LEVELS - 1)
        offset = self.offset[face, level]
        height = self.height[face, level]
        width = self.width[face, level]
        # texel centres sit at (i + 0.5) / size
        x = u.clamp(0.0, 1.0) * width - 0.5
        y = v.clamp(0.0, 1.0) * height - 0.5
        x0 = x.floor()
        y0 = y.floor()
        fx = (x - x0)[:, None]
        fy = (y - y0)[:, None]
        x0 = x0.long()
        y0 = y0.long()
        x0c = x0.clamp(0).minimum(width - 1)
        x1c = (x0 + 1).clamp(0).minimum(width - 1)
        y0c = y0.clamp(0).minimum(height - 1)
        y1c = (y0 + 1).clamp(0).minimum(height - 1)
        index = torch.stack(
            [
                offset + y0c * width + x0c,
                offset + y0c * width + x1c,
                offset + y1c * width + x0c,
                offset + y1c * width + x1c,
            ]
        )
        corners = self.texels.index_select(0, index.flatten()).view(4, -1, 3)
        top = corners[0] + (corners[1] - corners[0]) * fx
        bottom = corners[2] + (corners[3] - corners[2]) * fx
        return top + (bottom - top) * fy


def build_atlas(textures: list[torch.Tensor], texel_sizes: list[float]) -> TextureAtlas:
    """Pack face textures ``(3, H_f, W_f)`` in [0, 1] and their mip levels into a ``TextureAtlas``.

    Each level halves the previous one by area averaging (down to 1 texel); faces too small for all
    ``MIP_LEVELS`` levels repeat their smallest one.
    """
    if len(textures) != len(texel_sizes) or not textures:
        raise ValueError("build_atlas needs one texel size per texture and at least one texture")
    chunks, offsets, heights, widths = [], [], [], []
    position = 0
    for texture in textures:
        level = texture
        start = position
        face_offsets, face_heights, face_widths = [], [], []
        for index in range(MIP_LEVELS):
            if index == 0 or max(level.shape[1:]) > 1:
                if index > 0:
                    size = (max(1, level.shape[1] // 2), max(1, level.shape[2] // 2))
                    level = F.interpolate(level[None], size=size, mode="area")[0]
                start = position
                chunks.append(level.permute(1, 2, 0).reshape(-1, 3))
                position += chunks[-1].shape[0]
            face_offsets.append(start)
            face_heights.append(level.shape[1])
            face_widths.append(level.shape[2])
        offsets.append(face_offsets)
        heights.append(face_heights)
        widths.append(face_widths)
    return TextureAtlas(
        texels=torch.cat(chunks).contiguous(),
        offset=torch.tensor(offsets, dtype=torch.int64),
        height=torch.tensor(heights, dtype=torch.int64),
        width=torch.tensor(widths, dtype=torch.int64),
        texel_size=torch.tensor(texel_sizes, dtype=torch.float32),
    )
