"""The backbone's building blocks, one per module."""

from muskie.model.layers.attention import Attention
from muskie.model.layers.block import AlternatingAttentionBlock
from muskie.model.layers.cross_attention import CrossAttention
from muskie.model.layers.mlp import Mlp
from muskie.model.layers.patch_embed import PatchEmbed
from muskie.model.layers.rope import apply_rope, rope_tables, token_positions

__all__ = [
    "AlternatingAttentionBlock",
    "Attention",
    "CrossAttention",
    "Mlp",
    "PatchEmbed",
    "apply_rope",
    "rope_tables",
    "token_positions",
]
