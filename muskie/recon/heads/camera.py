"""The camera head: one camera-to-world pose per view from that view's tokens (pi3-style)."""

from __future__ import annotations

import torch
from torch import nn

from muskie.geometry import special_orthonormalize


class ResidualMlpBlock(nn.Module):
    """``x + MLP(x)`` with three Linear + ReLU layers of width ``dim``, applied to every token."""

    def __init__(self, dim: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class CameraHead(nn.Module):
    """Tokens ``(B, V, L, E)`` -> camera-to-world poses ``(B, V, 4, 4)``, OpenCV axes.

    LayerNorm and a projection to ``dim``, two residual MLP blocks on every token, the average over the
    view's tokens, two Linear + ReLU layers, then 9 numbers made a rotation by SVD
    (:func:`~muskie.geometry.special_orthonormalize`) and 3 for the camera centre. Each view is decoded on
    its own, so the head is permutation-equivariant over views. It starts at the identity pose: the rotation
    layer's bias is the identity matrix and the translation layer is zero.
    """

    def __init__(self, embed_dim: int, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(embed_dim)
        self.proj = nn.Linear(embed_dim, dim)
        self.blocks = nn.Sequential(ResidualMlpBlock(dim), ResidualMlpBlock(dim))
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        self.fc_rotation = nn.Linear(dim, 9)
        self.fc_translation = nn.Linear(dim, 3)
        for layer in (self.fc_rotation, self.fc_translation):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)
        with torch.no_grad():
            self.fc_rotation.bias.copy_(torch.eye(3).flatten())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 4:
            raise ValueError(f"tokens must have shape (B, V, L, E), got {tuple(tokens.shape)}")
        x = self.blocks(self.proj(self.norm(tokens)))
        x = self.mlp(x.mean(dim=2))  # (B, V, dim)
        # SVD in float32 even under autocast: bf16 rotations are too coarse for poses
        x = x.float()
        rotation = special_orthonormalize(self.fc_rotation(x).unflatten(-1, (3, 3)))
        pose = torch.zeros(*x.shape[:-1], 4, 4, dtype=x.dtype, device=x.device)
        pose[..., :3, :3] = rotation
        pose[..., :3, 3] = self.fc_translation(x)
        pose[..., 3, 3] = 1.0
        return pose
