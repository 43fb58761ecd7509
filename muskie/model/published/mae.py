"""MAE encoders from the official pre-training checkpoints (``mae_pretrain_vit_{base,large,huge}.pth``,
``mae_visualize_vit_*.pth``), no download.

The files hold ``{"model": state_dict}`` of ``facebookresearch/mae``'s ``MaskedAutoencoderViT`` (encoder only
in ``mae_pretrain_*``; the ``mae_visualize_*`` files add the decoder): ``patch_embed.proj``, ``cls_token
(1, 1, E)``, ``pos_embed (1, 1 + M*M, E)`` (the fixed 2D sin-cos table, zero for the class token, M = 14),
``blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``; the decoder (``decoder_*``,
``mask_token``) is not read. Width, depth and patch size come from the shapes; heads have 64 channels, except
ViT-H/14 (1280 wide, 16 heads of 80).

Tokens: the class token plus its table entry, then the patches plus theirs, the table resized bicubic
(no antialias) when the patch grid is not ``M x M``, as MAE's ``interpolate_pos_embed`` does for fine-tuning
at other sizes. Every block is read through the final LayerNorm (epsilon 1e-6).
"""

from __future__ import annotations

import math
import os

from muskie.model.published.layout import (
    LayoutCheck,
    block_count,
    block_tensors,
    heads_for_width,
    load_checked,
    patch_embedding,
    read_published,
)
from muskie.model.published.plain_vit import PlainViT, PlainViTConfig

FAMILY = "MAE"
EPS = 1e-6
KNOWN_HEADS = {1280: 16}  # ViT-H/14; the other published widths have 64-channel heads
DECODER_PREFIXES = ("decoder_", "mask_token")


def mae_state_dict(content: dict, source: str) -> dict:
    """The state_dict of a MAE checkpoint's content: its ``model`` entry (a bare state_dict is accepted)."""
    state = content.get("model", content)
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{source}: not a MAE checkpoint (its 'model' entry is not a state_dict)")
    return state


def read_mae(path: str | os.PathLike, num_heads: int | None = None) -> PlainViT:
    """The encoder :class:`PlainViT` of an official MAE pre-training checkpoint; ``num_heads`` only for widths
    that are no published size. ValueError naming the file for any other layout."""
    source = str(path)
    state = mae_state_dict(read_published(path, FAMILY), source)
    check = LayoutCheck(state, source, FAMILY)
    dim, patch_size, tensors = patch_embedding(check)
    depth = block_count(state, "blocks.", source, FAMILY)
    heads = num_heads or heads_for_width(dim, source, FAMILY, known=KNOWN_HEADS)
    table = check.tensor("pos_embed", (1, None, dim))
    grid = math.isqrt(table.shape[1] - 1)
    if grid < 1 or grid * grid != table.shape[1] - 1:
        raise ValueError(f"{source}: pos_embed holds {table.shape[1]} entries, not 1 + a square grid")
    hidden = check.tensor("blocks.0.mlp.fc1.weight", (None, dim)).shape[0]
    tensors.update(block_tensors(check, "blocks.", depth, dim, "mlp", hidden, layer_scale=False))
    tensors["cls_token"] = check.tensor("cls_token", (1, 1, dim))
    tensors["positions.table"] = table
    tensors["norm.weight"] = check.tensor("norm.weight", (dim,))
    tensors["norm.bias"] = check.tensor("norm.bias", (dim,))
    check.finish(ignored=lambda key: key.startswith(DECODER_PREFIXES))

    positions = {"kind": "table", "grid": grid, "dim": dim, "cls_entry": True, "offset": 0.0, "antialias": False}
    config = PlainViTConfig(
        dim,
        depth,
        heads,
        patch_size,
        "mlp",
        hidden,
        layer_scale=False,
        eps=EPS,
        cls_token=True,
        num_registers=0,
        positions=positions,
    )
    return load_checked(lambda: PlainViT(config), tensors, source)
