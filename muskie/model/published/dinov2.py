"""DINOv2 from the official state_dict files (``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth``), no download.

The files are bare state_dicts of ``facebookresearch/dinov2``'s ``DinoVisionTransformer`` (``block_chunks=0``):
``patch_embed.proj``, ``cls_token (1, 1, E)``, ``pos_embed (1, 1 + M*M, E)`` (M = 37 for the published 518-pixel
models), ``register_tokens (1, R, E)`` (the ``_reg4`` files), ``mask_token (1, E)`` (unused here),
``blocks.{i}.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2 | mlp.w12, mlp.w3, ls2.gamma}`` and
``norm``. Everything is read from the shapes: width, depth, patch size, register count, feed-forward (an MLP,
or ViT-g's fused SwiGLU). Heads have 64 channels in every published size (S 6, B 12, L 16, g 24), and every
one has LayerScale (the hub's ``init_values=1.0``), so it is required.

Tokens: the class token and the patches get the position table (resized to the patch grid, see
:mod:`muskie.model.published.positions`), then the registers go between them. How the table is resized
follows the hub's two settings, told apart by the registers: without them a scale factor ``(h + 0.1) / M``
and no antialias, with them the size ``(h, w)`` and antialias. LayerNorm epsilon 1e-6.
"""

from __future__ import annotations

import math
import os

from muskie.model.published.layout import (
    LayoutCheck,
    block_count,
    block_tensors,
    feed_forward_layout,
    heads_for_width,
    load_checked,
    patch_embedding,
    read_published,
)
from muskie.model.published.plain_vit import PlainViT, PlainViTConfig

FAMILY = "DINOv2"
EPS = 1e-6
INTERPOLATE_OFFSET = 0.1  # the hub's setting for the files without registers


def read_dinov2(path: str | os.PathLike, num_heads: int | None = None) -> PlainViT:
    """The :class:`PlainViT` held by an official DINOv2 state_dict file; ``num_heads`` only for widths that
    are no published size (default: 64-channel heads). ValueError naming the file for any other layout."""
    source = str(path)
    state = read_published(path, FAMILY)
    check = LayoutCheck(state, source, FAMILY)
    dim, patch_size, tensors = patch_embedding(check)
    depth = block_count(state, "blocks.", source, FAMILY)
    heads = num_heads or heads_for_width(dim, source, FAMILY)
    table = check.tensor("pos_embed", (1, None, dim))
    grid = math.isqrt(table.shape[1] - 1)
    if grid < 1 or grid * grid != table.shape[1] - 1:
        raise ValueError(f"{source}: pos_embed holds {table.shape[1]} entries, not 1 + a square grid")
    register_tokens = check.tensor("register_tokens", (1, None, dim)) if check.has("register_tokens") else None
    registers = 0 if register_tokens is None else register_tokens.shape[1]
    ffn, hidden = feed_forward_layout(check, "blocks.", dim)
    tensors.update(block_tensors(check, "blocks.", depth, dim, ffn, hidden, layer_scale=True))
    tensors["cls_token"] = check.tensor("cls_token", (1, 1, dim))
    tensors["positions.table"] = table
    if registers:
        tensors["register_tokens"] = register_tokens
    tensors["norm.weight"] = check.tensor("norm.weight", (dim,))
    tensors["norm.bias"] = check.tensor("norm.bias", (dim,))
    if check.has("mask_token"):
        check.tensor("mask_token", (1, dim))  # for masked training only
    check.finish()

    positions = {
        "kind": "table",
        "grid": grid,
        "dim": dim,
        "cls_entry": True,
        "offset": 0.0 if registers else INTERPOLATE_OFFSET,
        "antialias": bool(registers),
    }
    config = PlainViTConfig(
        dim,
        depth,
        heads,
        patch_size,
        ffn,
        hidden,
        layer_scale=True,
        eps=EPS,
        cls_token=True,
        num_registers=registers,
        positions=positions,
    )
    return load_checked(lambda: PlainViT(config), tensors, source)
