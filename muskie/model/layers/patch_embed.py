"""Patch embedding: a strided convolution that turns each p x p patch into one token."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """``(N, C, H, W)`` images -> ``(N, L, E)`` tokens, ``L = (H/p) * (W/p)`` in row-major patch order.

    ``H`` and ``W`` must be multiples of ``p``; callers check this so that the error names their input.
    """

    def __init__(self, patch_size: int, embed_dim: int, in_channels: int = 3):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def reset_parameters(self) -> None:
        # As MAE: the convolution is a linear map of the flattened patch, initialised like one.
        nn.init.xavier_uniform_(self.proj.weight.view(self.proj.weight.shape[0], -1))
        nn.init.zeros_(self.proj.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)
