"""The peers' light decoders: from the encoder's visible tokens to the pixels of every patch.

Both decoders start the same way (MAE's): a LayerNorm closes the encoder, a Linear maps its width to the
decoder's, and a learnable mask token takes every dropped patch's place, so the decoder sees the full patch
grid, each token at its patch's RoPE position, with its own register tokens in front. They end the same
way too: a LayerNorm and a Linear to the ``3 * p * p`` values of each patch.

- :class:`PixelDecoder` (MAE, MuM): alternating-attention blocks; frame-wise (MAE: both layers within the
  view) or multi-view (MuM: the second layer over all views of the scene).
- :class:`CrossViewDecoder` (CroCo): blocks of self-attention over the masked view, cross-attention to the
  reference view's encoded tokens, and an MLP.
"""

from __future__ import annotations

import torch
from torch import nn

from muskie.model.backbone import init_linear_and_norm
from muskie.model.layers import AlternatingAttentionBlock, Attention, CrossAttention, Mlp, rope_tables, token_positions
from muskie.peers.encoder import DecoderConfig


class CroCoBlock(nn.Module):
    """One CroCo decoder block: pre-norm self-attention over the masked view's tokens, pre-norm
    cross-attention from them to the reference view's tokens (normalised by ``norm_context``), pre-norm MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden_dim)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        context_cos: torch.Tensor,
        context_sin: torch.Tensor,
    ) -> torch.Tensor:
        """``x (N, T, D)`` updated by attending to itself and to ``context (N, S, D)``; RoPE tables ``(T, D_h)``
        for ``x`` and ``(S, D_h)`` for the context."""
        x = x + self.self_attn(self.norm1(x), cos, sin)[0]
        x = x + self.cross_attn(self.norm2(x), self.norm_context(context), cos, sin, context_cos, context_sin)
        return x + self.mlp(self.norm3(x))


class _MaskedTokenDecoder(nn.Module):
    """The parts both decoders share: the input (encoder norm, width change, mask token, registers) and the
    pixel prediction."""

    def __init__(self, encoder_dim: int, config: DecoderConfig, pixel_dim: int, num_registers: int, rope_base: float):
        super().__init__()
        self.config = config
        self.num_registers = num_registers
        self.rope_base = rope_base
        self.encoder_norm = nn.LayerNorm(encoder_dim)
        self.embed = nn.Linear(encoder_dim, config.dim)
        self.mask_placeholder = nn.Parameter(torch.empty(1, 1, 1, config.dim))
        self.register_tokens = nn.Parameter(torch.empty(1, 1, num_registers, config.dim))
        self.norm = nn.LayerNorm(config.dim)
        self.pred = nn.Linear(config.dim, pixel_dim)

    def reset_parameters(self) -> None:
        init_linear_and_norm(self.modules())
        nn.init.trunc_normal_(self.register_tokens, std=0.02)
        nn.init.normal_(self.mask_placeholder, std=0.02)  # MAE's

    def rope(self, grid: tuple[int, int], device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's RoPE tables ``(R + L, head_dim)`` of one view's full patch grid."""
        positions = token_positions(*grid, self.num_registers, device=device)
        return rope_tables(positions, self.config.head_dim, self.rope_base, dtype=dtype)

    def full_grid(self, tokens: torch.Tensor, visible: torch.Tensor, num_patches: int) -> torch.Tensor:
        """``(B, V, R + L, D)``: the registers, then the ``L`` patches, the visible ones from ``tokens
        (B, V, N, E)`` (encoder output at the patches ``visible (B, V, N)`` names), the others the mask token."""
        x = self.embed(self.encoder_norm(tokens))
        b, v, _, d = x.shape
        index = visible[..., None].expand(-1, -1, -1, d)
        grid = x.new_zeros(b, v, num_patches, d).scatter(2, index, x)
        seen = torch.zeros(b, v, num_patches, 1, dtype=torch.bool, device=x.device).scatter(2, visible[..., None], True)
        grid = torch.where(seen, grid, self.mask_placeholder.to(x.dtype))
        return torch.cat([self.register_tokens.to(x.dtype).expand(b, v, -1, -1), grid], dim=2)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., R + L, D)`` decoder tokens -> ``(..., L, 3 * p * p)`` patch values (registers dropped)."""
        return self.pred(self.norm(x[..., self.num_registers :, :]))


class PixelDecoder(_MaskedTokenDecoder):
    """MAE's and MuM's decoder: ``config.depth`` alternating-attention blocks over the full patch grid of each
    view; ``cross_view`` lets each block's second layer attend over all views of the scene (MuM) instead of
    within the view (MAE)."""

    def __init__(
        self,
        encoder_dim: int,
        config: DecoderConfig,
        pixel_dim: int,
        num_registers: int,
        rope_base: float,
        cross_view: bool,
    ):
        super().__init__(encoder_dim, config, pixel_dim, num_registers, rope_base)
        self.cross_view = cross_view
        self.blocks = nn.ModuleList(
            AlternatingAttentionBlock(config.dim, config.num_heads, config.mlp_hidden_dim) for _ in range(config.depth)
        )
        self.reset_parameters()

    def forward(self, tokens: torch.Tensor, visible: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Predict every patch of every view.

        Args:
            tokens: ``(B, V, N, E)`` the encoder's output at the visible patches.
            visible: ``(B, V, N)`` int64, their row-major indices in the ``grid``.
            grid: ``(H/p, W/p)``.

        Returns:
            ``(B, V, L, 3 * p * p)``, ``L = H/p * W/p``, ordered as ``muskie.model.patches.patchify`` orders
            patches (visible patches are predicted too; losses score the masked ones).
        """
        x = self.full_grid(tokens, visible, grid[0] * grid[1])
        cos, sin = self.rope(grid, x.device, x.dtype)
        for block in self.blocks:
            x, _ = block(x, cos, sin, self.cross_view)
        return self.predict(x)


class CrossViewDecoder(_MaskedTokenDecoder):
    """CroCo's decoder: ``config.depth`` :class:`CroCoBlock` s in which the masked view's full patch grid
    attends to itself and to the reference view's encoded patch tokens (LayerNorm, then the same Linear to
    the decoder's width; fixed through the blocks)."""

    def __init__(self, encoder_dim: int, config: DecoderConfig, pixel_dim: int, num_registers: int, rope_base: float):
        super().__init__(encoder_dim, config, pixel_dim, num_registers, rope_base)
        self.blocks = nn.ModuleList(
            CroCoBlock(config.dim, config.num_heads, config.mlp_hidden_dim) for _ in range(config.depth)
        )
        self.reset_parameters()

    def forward(
        self, tokens: torch.Tensor, visible: torch.Tensor, reference: torch.Tensor, grid: tuple[int, int]
    ) -> torch.Tensor:
        """Predict every patch of the masked views.

        Args:
            tokens: ``(B, P, N, E)`` the encoder's output at the visible patches of each pair's masked view.
            visible: ``(B, P, N)`` int64, their row-major indices in the ``grid``.
            reference: ``(B, P, L, E)`` the encoder's output of each pair's reference view (every patch).
            grid: ``(H/p, W/p)``.

        Returns:
            ``(B, P, L, 3 * p * p)`` the masked views' patches, ordered as ``patchify`` orders them.
        """
        b, p, length, _ = reference.shape
        x = self.full_grid(tokens, visible, length).flatten(0, 1)  # (B * P, R + L, D)
        context = self.embed(self.encoder_norm(reference)).flatten(0, 1)  # (B * P, L, D)
        cos, sin = self.rope(grid, x.device, x.dtype)
        context_cos, context_sin = cos[self.num_registers :], sin[self.num_registers :]
        for block in self.blocks:
            x = block(x, context, cos, sin, context_cos, context_sin)
        return self.predict(x).unflatten(0, (b, p))
