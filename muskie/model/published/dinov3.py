"""DINOv3 ViTs from the official state_dict files (``dinov3_vit*16*_pretrain_*.pth``), no download.

The files are bare state_dicts of ``facebookresearch/dinov3``'s ``DinoVisionTransformer``: ``patch_embed.proj``,
``cls_token (1, 1, E)``, ``storage_tokens (1, R, E)``, ``mask_token (1, E)`` (unused here),
``rope_embed.periods (D/4,)`` (D the head width), ``blocks.{i}.{norm1, attn.qkv (+ .bias_mask), attn.proj,
ls1.gamma, norm2, mlp.fc1, mlp.fc2 | mlp.w1, mlp.w2, mlp.w3, ls2.gamma}``, ``norm`` and, in some files,
``cls_norm`` / ``local_cls_norm`` (they normalise the class and storage tokens only: unused here).

Everything is read from the shapes: width, depth, patch size, storage-token count, feed-forward (MLP or
SwiGLU); every published ViT has LayerScale (``layerscale_init``), so it is required. The head width is four
times the number of stored RoPE periods. ``qkv.bias_mask``
(the ``mask_k_bias`` files) multiplies the qkv bias, zeroing the keys' part, so it is folded into the bias.
Tokens: class, storage, patches; the rotary embedding (:class:`~muskie.model.published.positions.
NormalizedRope`, coordinates normalised per axis, as the hub's ``normalize_coords="separate"``; its training-time
shift, jitter and rescaling do not apply at inference) turns the patches' queries and keys only.
LayerNorm epsilon 1e-5 (the hub's ``layernormbf16``, every published ViT). The input normalisation is
ImageNet's, that of the LVD-1689M (web image) weights; the satellite (SAT-493M) weights expect other
statistics and are not told apart.
"""

from __future__ import annotations

import os

from muskie.model.published.layout import (
    LayoutCheck,
    block_count,
    block_tensors,
    feed_forward_layout,
    load_checked,
    patch_embedding,
    read_published,
)
from muskie.model.published.plain_vit import PlainViT, PlainViTConfig

FAMILY = "DINOv3"
EPS = 1e-5
# normalise the class and storage tokens only, which the features leave out
CLS_NORMS = ("cls_norm.", "local_cls_norm.")


def read_dinov3(path: str | os.PathLike) -> PlainViT:
    """The :class:`PlainViT` held by an official DINOv3 ViT state_dict file. ValueError naming the file for
    any other layout."""
    source = str(path)
    state = read_published(path, FAMILY)
    check = LayoutCheck(state, source, FAMILY)
    dim, patch_size, tensors = patch_embedding(check)
    depth = block_count(state, "blocks.", source, FAMILY)
    periods = check.tensor("rope_embed.periods", (None,))
    head_dim = 4 * periods.shape[0]
    if head_dim == 0 or dim % head_dim or not bool((periods > 0).all()):
        raise ValueError(
            f"{source}: rope_embed.periods holds {periods.shape[0]} periods (head width {head_dim}), "
            f"which must be positive and divide the width {dim} into heads"
        )
    storage = check.tensor("storage_tokens", (1, None, dim)) if check.has("storage_tokens") else None
    ffn, hidden = feed_forward_layout(check, "blocks.", dim)
    tensors.update(block_tensors(check, "blocks.", depth, dim, ffn, hidden, layer_scale=True))
    for i in range(depth):
        key = f"blocks.{i}.attn.qkv.bias_mask"
        if check.has(key):
            mask = check.tensor(key, (3 * dim,))
            tensors[f"blocks.{i}.attn.qkv.bias"] = tensors[f"blocks.{i}.attn.qkv.bias"] * mask
    tensors["cls_token"] = check.tensor("cls_token", (1, 1, dim))
    if storage is not None and storage.shape[1]:
        tensors["register_tokens"] = storage
    tensors["positions.periods"] = periods
    tensors["norm.weight"] = check.tensor("norm.weight", (dim,))
    tensors["norm.bias"] = check.tensor("norm.bias", (dim,))
    if check.has("mask_token"):
        check.tensor("mask_token", (1, dim))  # for masked training only
    check.finish(ignored=lambda key: key.startswith(CLS_NORMS))
    registers = 0 if storage is None else storage.shape[1]

    config = PlainViTConfig(
        dim,
        depth,
        dim // head_dim,
        patch_size,
        ffn,
        hidden,
        layer_scale=True,
        eps=EPS,
        cls_token=True,
        num_registers=registers,
        positions={"kind": "normalized_rope", "head_dim": head_dim},
    )
    return load_checked(lambda: PlainViT(config), tensors, source)
