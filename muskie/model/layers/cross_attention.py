"""Multi-head cross-attention with 2D RoPE on both sides: queries from one set of tokens, keys and values
from another (CroCo's decoder reads the reference view this way)."""

from __future__ import annotations

import torch
from torch import nn

from muskie.model.layers.attention import per_head
from muskie.model.layers.rope import apply_rope
from muskie.model.layers.sdpa import scaled_dot_product


class CrossAttention(nn.Module):
    """Tokens ``x (N, S, E)`` attend to ``context (N, S_c, E)``, ``num_heads`` heads of ``E / num_heads``
    channels.

    ``q`` projects ``x``; ``kv`` projects the context, rows ordered k, v, heads as contiguous blocks of
    channels (as :class:`~muskie.model.layers.attention.Attention`'s ``qkv``). Queries rotate with the
    positions of ``x``, keys with those of the context, so the scores depend on the offset between a query's
    patch and a key's patch. Softmax scale ``1 / sqrt(head_dim)``; biases; no dropout.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        context_cos: torch.Tensor,
        context_sin: torch.Tensor,
    ) -> torch.Tensor:
        """``(N, S, E)``: the attention output of queries ``x (N, S, E)`` over ``context (N, S_c, E)``.

        RoPE tables: ``cos, sin`` for the queries, ``(S, head_dim)`` or ``(N, S, head_dim)``;
        ``context_cos, context_sin`` for the keys, ``(S_c, head_dim)`` or ``(N, S_c, head_dim)``.
        """
        n, s, e = x.shape
        q = self.q(x).view(n, s, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(context).view(n, context.shape[1], 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q = apply_rope(q, per_head(cos), per_head(sin))
        k = apply_rope(k, per_head(context_cos), per_head(context_sin))
        out = scaled_dot_product(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, s, e))
