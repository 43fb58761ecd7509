"""A DPT head (Ranftl et al., 2021): dense per-pixel outputs from the tokens of several blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Resampling of the four levels relative to the patch grid: x4, x2, x1 and x1/2, finest first.
_LEVEL_SCALES = (4, 2, 1, 0.5)


class ResidualConvUnit(nn.Module):
    """``x + conv(relu(conv(relu(x))))`` with 3x3 convolutions keeping the width."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """Adds a (refined) finer skip level to the coarser path, refines, and upsamples to ``size``. The
    coarsest level starts the path and has no skip (``with_skip=False``)."""

    def __init__(self, dim: int, with_skip: bool = True):
        super().__init__()
        self.skip_unit = ResidualConvUnit(dim) if with_skip else None
        self.unit = ResidualConvUnit(dim)
        self.out = nn.Conv2d(dim, dim, 1)

    def forward(self, path: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """``path (N, dim, h, w)``, ``skip`` of the same shape (None for the coarsest level) -> ``(N, dim, *size)``."""
        if self.skip_unit is not None:
            path = path + self.skip_unit(skip)
        path = F.interpolate(self.unit(path), size=size, mode="bilinear", align_corners=False)
        return self.out(path)


class DPTHead(nn.Module):
    """Four token maps ``(B, V, L, E)`` of a ``(H/p, W/p)`` patch grid -> ``(B, V, out_channels, H, W)``.

    Each level is normalised, projected to ``dim`` channels and resampled to 4, 2, 1 and 1/2 times the patch
    grid (finest from the earliest block); the levels are fused from coarse to fine with residual
    convolution units, and a small convolutional output stage brings the result to full resolution. Views
    are decoded independently (no cross-view operation), so the head is permutation-equivariant.
    """

    def __init__(self, embed_dim: int, patch_size: int, out_channels: int, dim: int = 64):
        super().__init__()
        self.patch_size = patch_size
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dim) for _ in _LEVEL_SCALES)
        self.projections = nn.ModuleList(nn.Conv2d(embed_dim, dim, 1) for _ in _LEVEL_SCALES)
        self.resamplers = nn.ModuleList(
            [
                nn.ConvTranspose2d(dim, dim, 4, stride=4),
                nn.ConvTranspose2d(dim, dim, 2, stride=2),
                nn.Identity(),
                nn.Conv2d(dim, dim, 3, stride=2, padding=1),
            ]
        )
        self.level_convs = nn.ModuleList(nn.Conv2d(dim, dim, 3, padding=1, bias=False) for _ in _LEVEL_SCALES)
        self.fusions = nn.ModuleList(
            FusionBlock(dim, with_skip=i < len(_LEVEL_SCALES) - 1) for i in range(len(_LEVEL_SCALES))
        )
        self.output = nn.Sequential(
            nn.Conv2d(dim, dim // 2, 3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(dim // 2, dim // 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(dim // 2, out_channels, 1),
        )

    def forward(self, features: list[torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        """``features``: four ``(B, V, L, E)`` tensors, finest level first; ``image_size`` = (H, W)."""
        if len(features) != len(_LEVEL_SCALES):
            raise ValueError(f"DPTHead takes {len(_LEVEL_SCALES)} feature maps, got {len(features)}")
        height, width = image_size
        grid = (height // self.patch_size, width // self.patch_size)
        b, v = features[0].shape[:2]
        levels = []
        for index, tokens in enumerate(features):
            x = self.norms[index](tokens).flatten(0, 1).transpose(1, 2).unflatten(2, grid)  # (BV, E, h, w)
            x = self.resamplers[index](self.projections[index](x))
            levels.append(self.level_convs[index](x))
        # coarse to fine; the finest fusion upsamples to half the image size, the output stage to all of it
        path = None
        targets = [level.shape[-2:] for level in levels[:-1]] + [(height // 2, width // 2)]
        for index in reversed(range(len(levels))):
            size = targets[index - 1] if index > 0 else targets[-1]
            if path is None:
                path = self.fusions[index](levels[index], None, size)
            else:
                path = self.fusions[index](path, levels[index], size)
        out = self.output(path)
        if out.shape[-2:] != (height, width):
            out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
        return out.unflatten(0, (b, v))
