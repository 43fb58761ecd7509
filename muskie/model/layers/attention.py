"""Multi-head self-attention with 2D RoPE on queries and keys."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from muskie.model.layers.attention_maps import attention_rows, token_attention
from muskie.model.layers.rope import apply_rope, apply_rope_swapped, rotation_signs
from muskie.model.layers.sdpa import hidden_keys_mask, scaled_dot_product


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
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        return_attention: bool = False,
        source: slice | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend over ``x (N, S, E)`` with RoPE tables ``cos, sin``: ``(S, head_dim)`` shared by the ``N``
        sequences, or ``(N, S, head_dim)``, one table per sequence (views that dropped different patches).

        torch's fused attention kernel computes the output ``(N, S, E)``
        (:func:`~muskie.model.layers.sdpa.scaled_dot_product`), so it is the same whatever is asked of the
        attention. With ``return_attention`` the head-averaged attention
        probabilities come with it, computed a block of queries at a time
        (:mod:`~muskie.model.layers.attention_maps`): the full map ``(N, S, S)`` (query, key; rows sum to
        1), or, with ``source`` (a slice of ``S``, ``Ts`` tokens), only those tokens' rows and columns,
        ``(N, 2, Ts, S)`` as :func:`~muskie.model.layers.attention_maps.token_attention` returns them,
        float32 also under bf16 autocast (from the rounded queries and keys). Without ``return_attention`` the
        second output is None.

        ``hidden``: ``(N, S)`` bool, True for tokens the others must not see
        (:func:`~muskie.model.layers.sdpa.hidden_keys_mask`): tokens that are not hidden attend only to each
        other, hidden ones to every token. The attention maps do not take it into account, so the two cannot be
        asked for together (ValueError).
        """
        if hidden is not None and return_attention:
            raise ValueError("attention maps are computed without hidden tokens: ask for one or the other")
        n, s, e = x.shape
        qkv = self.qkv(x).view(n, s, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, N, h, S, d)
        cos, sin = per_head(cos), per_head(sin)
        if self.rope_together:
            signed_sin = sin * rotation_signs(self.head_dim, sin.dtype, sin.device)
            q, k = apply_rope_swapped(qkv[:2], cos, signed_sin).unbind(0)
        else:
            q, k = apply_rope(qkv[0], cos, sin), apply_rope(qkv[1], cos, sin)
        mask = None if hidden is None else hidden_keys_mask(hidden)
        out = scaled_dot_product(q, k, qkv[2], mask).transpose(1, 2).reshape(n, s, e)
        attention = None
        if return_attention:
            attention = _attention_maps(q, k, source)
        return self.proj(out), attention


def _attention_maps(q: torch.Tensor, k: torch.Tensor, source: slice | None) -> torch.Tensor:
    """The probabilities :meth:`Attention.forward` returns, in at least float32: bf16 ``q`` and ``k`` are
    widened, and under autocast the maps are computed outside it, because the readouts compare probabilities
    that differ in the third digit. float32 and float64 stay as they are."""
    wide = torch.promote_types(q.dtype, torch.float32)
    outside = torch.is_autocast_enabled(q.device.type)
    with torch.autocast(q.device.type, enabled=False) if outside else contextlib.nullcontext():
        q, k = q.to(wide), k.to(wide)
        return attention_rows(q, k) if source is None else token_attention(q, k, source)
