"""Analytic compute cost of the model.

Counts matrix products only (patch embedding, qkv and output projections, attention scores and weighted
sums, MLPs, pixel head) at 2 FLOPs per multiply-accumulate; LayerNorm, softmax, GELU, RoPE and residual
additions are a few percent and left out. Register tokens are counted as tokens. A training step costs
:data:`TRAINING_STEP_FACTOR` forward passes (forward + backward through activations and weights).
"""

from __future__ import annotations

from muskie.model.config import MuskieConfig

TRAINING_STEP_FACTOR = 3


def layer_flops(tokens: int, span: int, dim: int, hidden: int) -> int:
    """One pre-norm transformer layer over ``tokens`` queries, each attending to ``span`` keys."""
    projections = 2 * tokens * dim * (3 * dim + dim)  # qkv and output projection
    attention = 2 * 2 * tokens * span * dim  # q k^T and probabilities @ v, over all heads
    mlp = 2 * 2 * tokens * dim * hidden
    return projections + attention + mlp


def cross_attention_flops(tokens: int, context: int, dim: int) -> int:
    """One cross-attention layer (``muskie.model.layers.CrossAttention``): ``tokens`` queries attending to
    ``context`` keys, the keys and values projected from the context."""
    projections = 2 * tokens * dim * (dim + dim) + 2 * context * dim * 2 * dim  # q and output; k and v
    return projections + 2 * 2 * tokens * context * dim


def patch_grid_size(config: MuskieConfig, height: int, width: int) -> int:
    """``L``, the patches of a ``height x width`` view; a ValueError for a size the patches do not tile."""
    p = config.patch_size
    if height < 1 or width < 1 or height % p or width % p:
        raise ValueError(f"image size {height}x{width} is not a positive multiple of the patch size {p}")
    return (height // p) * (width // p)


def forward_flops(
    config: MuskieConfig,
    num_views: int,
    height: int,
    width: int,
    include_head: bool = True,
    kept_patches: int | None = None,
) -> int:
    """FLOPs of one forward pass over one scene of ``num_views`` views of ``height x width`` pixels.

    Global attention spans all views' tokens (unless ``config.cross_view`` is False), so the cost per view
    grows with the number of views. ``include_head`` adds the pre-training pixel head. ``kept_patches``:
    with token dropping (``MuskieBackbone.forward(visible=...)``), the patches each view keeps; every patch
    is still embedded, the blocks and the head see the kept ones only. None: all.
    """
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    patches = patch_grid_size(config, height, width)
    kept = patches if kept_patches is None else kept_patches
    if not 1 <= kept <= patches:
        raise ValueError(f"kept_patches must be in 1..{patches}, got {kept_patches}")
    tokens = kept + config.num_registers
    dim, hidden = config.embed_dim, config.mlp_hidden_dim
    global_span = tokens * num_views if config.cross_view else tokens

    per_view = 2 * patches * config.pixel_dim * dim  # patch embedding
    per_view += config.depth * (
        layer_flops(tokens, tokens, dim, hidden) + layer_flops(tokens, global_span, dim, hidden)
    )
    if include_head:
        per_view += 2 * kept * dim * 2 * config.pixel_dim
    return num_views * per_view


def flops_per_view(
    config: MuskieConfig,
    num_views: int = 8,
    height: int = 224,
    width: int = 224,
    training: bool = False,
    include_head: bool = True,
) -> float:
    """FLOPs per view of a forward pass (or of a training step if ``training``) in a scene of ``num_views``."""
    total = forward_flops(config, num_views, height, width, include_head)
    return total * (TRAINING_STEP_FACTOR if training else 1) / num_views
