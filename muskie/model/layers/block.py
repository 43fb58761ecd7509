"""The alternating-attention (AA) block: a frame layer, then a global layer (VGGT-style)."""

from __future__ import annotations

import torch
from torch import nn

from muskie.model.layers.attention import Attention
from muskie.model.layers.mlp import Mlp


def scene_table(table: torch.Tensor, b: int, v: int) -> torch.Tensor:
    """The RoPE table of a scene's ``v`` views' tokens in a row: ``(v * T, D)`` from one view's ``(T, D)``, or
    ``(b, v * T, D)`` from per-view tables ``(b * v, T, D)``."""
    if table.dim() == 2:
        return table.repeat(v, 1)
    return table.reshape(b, v * table.shape[1], table.shape[2])


class AlternatingAttentionBlock(nn.Module):
    """Two pre-norm transformer layers over the tokens of a scene's views.

    The frame layer (``norm1 -> frame_attn``, ``norm2 -> frame_mlp``) attends within each view; the global
    layer (``norm3 -> global_atten``, ``norm4 -> global_mlp``) attends over all views' tokens together, or
    within each view when ``cross_view`` is False. Module names are the released checkpoints' (including
    ``global_atten``). No dropout, drop-path or LayerScale.
    """

    def __init__(self, dim: int, num_heads: int, mlp_hidden_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.frame_attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.frame_mlp = Mlp(dim, mlp_hidden_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.global_atten = Attention(dim, num_heads)
        self.norm4 = nn.LayerNorm(dim)
        self.global_mlp = Mlp(dim, mlp_hidden_dim)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cross_view: bool = True,
        return_attention: bool = False,
        source_view: int | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Update tokens ``x (B, V, T, E)`` (registers and patches of each view).

        ``cos, sin`` are RoPE tables: ``(T, head_dim)`` shared by every view, or ``(B * V, T, head_dim)``, one
        per view (views whose tokens are different subsets of their patches). Returns the new tokens
        ``(B, V, T, E)`` and, if ``return_attention``, the global layer's head-averaged attention
        probabilities: with ``source_view`` None the full map ``(B, V, T, V, T)`` (query view/token, key
        view/token); with a view index ``s`` only what involves ``s``, ``(B, 2, T, V, T)``: ``[:, 0, i, u, j]``
        what token ``i`` of view ``s`` gives token ``j`` of view ``u``, ``[:, 1, i, u, j]`` what token ``j`` of
        view ``u`` gives token ``i`` of view ``s``. Without ``cross_view`` the entries between different
        views are zero.

        ``hidden``: ``(B, V, T)`` bool, True for the tokens that the other tokens must not see, in the frame and
        the global layer (:meth:`Attention.forward`); None: every token sees every other.
        """
        b, v, t, e = x.shape
        frames = x.reshape(b * v, t, e)
        frame_hidden = None if hidden is None else hidden.reshape(b * v, t)
        frames = frames + self.frame_attn(self.norm1(frames), cos, sin, hidden=frame_hidden)[0]
        frames = frames + self.frame_mlp(self.norm2(frames))

        if cross_view:
            scene = frames.reshape(b, v * t, e)
            source = None if source_view is None else slice(source_view * t, (source_view + 1) * t)
            update, attention = self.global_atten(
                self.norm3(scene),
                scene_table(cos, b, v),
                scene_table(sin, b, v),
                return_attention,
                source,
                None if hidden is None else hidden.reshape(b, v * t),
            )
            scene = scene + update
            if attention is not None:
                attention = attention.view(b, v, t, v, t) if source is None else attention.view(b, 2, t, v, t)
        else:
            scene = frames
            update, per_view = self.global_atten(self.norm3(scene), cos, sin, return_attention, hidden=frame_hidden)
            scene = scene + update
            attention = None if per_view is None else _within_views(per_view.view(b, v, t, t), source_view)
        scene = scene + self.global_mlp(self.norm4(scene))
        return scene.reshape(b, v, t, e), attention


def _within_views(per_view: torch.Tensor, source_view: int | None) -> torch.Tensor:
    """Each view's own attention ``per_view (B, V, T, T)`` in the layout of the cross-view maps (see
    :meth:`AlternatingAttentionBlock.forward`), zero between different views: ``(B, V, T, V, T)``, or
    ``(B, 2, T, V, T)`` for ``source_view``."""
    b, v, t, _ = per_view.shape
    if source_view is None:
        attention = per_view.new_zeros(b, v, t, v, t)
        attention.diagonal(dim1=1, dim2=3).copy_(per_view.permute(0, 2, 3, 1))
        return attention
    attention = per_view.new_zeros(b, 2, t, v, t)
    attention[:, 0, :, source_view] = per_view[:, source_view]
    attention[:, 1, :, source_view] = per_view[:, source_view].transpose(1, 2)
    return attention
