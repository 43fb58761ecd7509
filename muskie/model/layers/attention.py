"""Multi-head self-attention with 2D RoPE on queries and keys."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from muskie.model.layers.rope import apply_rope, apply_rope_swapped, rotation_signs


def per_head(table: torch.Tensor) -> torch.Tensor:
    """A RoPE table ready to broadcast over ``(N, heads, S, head_dim)``: ``(S, D)`` as it is, ``(N, S, D)`` with
    a heads axis added."""
    return table if table.dim() == 2 else table[:, None]


class Attention(nn.Module):
    """Self-attention over ``(N, S, E)`` tokens, ``num_heads`` heads of ``E / num_heads`` channels.

    ``qkv`` rows are ordered q, k, v, and each of them holds the heads as contiguous blocks of channels
    (the released checkpoints' layout). Softmax scale ``1 / sqrt(head_dim)``; qkv bias; no dropout.

    ``rope_together``: rotate queries and keys in one pass with :func:`apply_rope_swapped` (the default;
    exactly the numbers of :func:`apply_rope`, in fewer passes over memory); False rotates each with
    :func:`apply_rope`, the reference the tests and ``benchmarks/bench_levers.py`` compare it with.
    """

    rope_together: bool = True

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend over ``x (N, S, E)`` with RoPE tables ``cos, sin``: ``(S, head_dim)`` shared by the ``N``
        sequences, or ``(N, S, head_dim)``, one table per sequence (views that dropped different patches).

        Returns the output ``(N, S, E)`` and, if ``return_attention``, the head-averaged attention
        probabilities ``(N, S, S)`` (query, key; rows sum to 1), computed with an explicit softmax;
        otherwise ``None`` and the fused ``scaled_dot_product_attention`` kernel does the work.
        """
        n, s, e = x.shape
        qkv = self.qkv(x).view(n, s, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, N, h, S, d)
        cos, sin = per_head(cos), per_head(sin)
        if self.rope_together:
            signed_sin = sin * rotation_signs(self.head_dim, sin.dtype, sin.device)
            q, k = apply_rope_swapped(qkv[:2], cos, signed_sin).unbind(0)
        else:
            q, k = apply_rope(qkv[0], cos, sin), apply_rope(qkv[1], cos, sin)
        v = qkv[2]
        if return_attention:
            scores = (q * self.head_dim**-0.5) @ k.transpose(-2, -1)
            probabilities = scores.softmax(dim=-1)
            out = probabilities @ v
            attention = probabilities.mean(dim=1)
        else:
            out = F.scaled_dot_product_attention(q, k, v)
            attention = None
        out = out.transpose(1, 2).reshape(n, s, e)
        return self.proj(out), attention
