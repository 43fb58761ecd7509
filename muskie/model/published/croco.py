"""CroCo v2 encoders from the official checkpoints (``CroCo_V2_ViT{Base,Large}_{Small,Base}Decoder.pth``), no
download.

The files hold ``{"model": state_dict, "croco_kwargs": {...}}``: the keyword arguments of ``naver/croco``'s
``CroCoNet`` (``enc_embed_dim``, ``enc_depth``, ``enc_num_heads``, ``pos_embed`` such as ``"RoPE100"``, ...;
``CroCoNet``'s defaults for those left out) and its weights: ``patch_embed.proj``,
``enc_blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``enc_norm``, and the decoder
(``decoder_embed``, ``dec_blocks``, ``dec_norm``, ``prediction_head``, ``mask_token``), which is not read. A
``"cosine"`` file (CroCo v1) stores its fixed sin-cos table as ``enc_pos_embed (M*M, E)`` and is read too.

The head count is the one thing shapes do not say: it comes from ``croco_kwargs``, whose width and depth
must agree with the tensors. The encoder has no class token; with RoPE the patches' queries and keys are
turned by their integer grid positions ``(y, x)`` from 0 (:class:`~muskie.model.published.positions.GridRope`),
with the sin-cos table that is resized bicubic to the patch grid as CroCo's ``interpolate_pos_embed``. Every
block is read through ``enc_norm`` (LayerNorm, epsilon 1e-6).
"""

from __future__ import annotations

import math
import os
import re

from muskie.model.published.layout import (
    LayoutCheck,
    block_count,
    block_tensors,
    load_checked,
    patch_embedding,
    read_published,
)
from muskie.model.published.plain_vit import PlainViT, PlainViTConfig

FAMILY = "CroCo"
EPS = 1e-6
# CroCoNet's defaults for the keyword arguments read here
DEFAULT_KWARGS = {"enc_embed_dim": 768, "enc_depth": 12, "enc_num_heads": 12, "patch_size": 16, "pos_embed": "cosine"}
DECODER_PREFIXES = ("decoder_embed.", "dec_blocks.", "dec_norm.", "prediction_head.", "mask_token", "dec_pos_embed")
ROPE = re.compile(r"RoPE(\d+(?:\.\d+)?)")


def croco_parts(content: dict, source: str) -> tuple[dict, dict]:
    """``(state_dict, kwargs)`` of a CroCo checkpoint's content, kwargs completed with CroCoNet's defaults."""
    state, kwargs = content.get("model"), content.get("croco_kwargs", {})
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{source}: not a CroCo checkpoint (no 'model' state_dict)")
    if not isinstance(kwargs, dict):
        raise ValueError(f"{source}: croco_kwargs is a {type(kwargs).__name__}, not a dict")
    kwargs = {**DEFAULT_KWARGS, **kwargs}
    for key in ("enc_embed_dim", "enc_depth", "enc_num_heads", "patch_size"):
        if type(kwargs[key]) is not int or kwargs[key] < 1:
            raise ValueError(f"{source}: croco_kwargs[{key!r}] = {kwargs[key]!r} is not a positive integer")
    pos_embed = kwargs["pos_embed"]
    if pos_embed != "cosine" and not (isinstance(pos_embed, str) and ROPE.fullmatch(pos_embed)):
        raise ValueError(
            f"{source}: croco_kwargs['pos_embed'] = {kwargs['pos_embed']!r} is neither 'cosine' nor 'RoPE<frequency>'"
        )
    return state, kwargs


def read_croco(path: str | os.PathLike) -> PlainViT:
    """The encoder :class:`PlainViT` of an official CroCo checkpoint. ValueError naming the file for any other
    layout, or for ``croco_kwargs`` that disagree with the tensors."""
    source = str(path)
    state, kwargs = croco_parts(read_published(path, FAMILY), source)
    check = LayoutCheck(state, source, FAMILY)
    dim, patch_size, tensors = patch_embedding(check)
    depth = block_count(state, "enc_blocks.", source, FAMILY)
    heads = kwargs["enc_num_heads"]
    stated = (kwargs["enc_embed_dim"], kwargs["enc_depth"], kwargs["patch_size"])
    if stated != (dim, depth, patch_size) or dim % heads:
        raise ValueError(
            f"{source}: croco_kwargs say width {stated[0]}, depth {stated[1]}, patch {stated[2]} and "
            f"{heads} heads; the tensors hold width {dim}, depth {depth}, patch {patch_size}"
        )
    hidden = check.tensor("enc_blocks.0.mlp.fc1.weight", (None, dim)).shape[0]
    tensors.update(block_tensors(check, "enc_blocks.", depth, dim, "mlp", hidden, layer_scale=False))
    tensors["norm.weight"] = check.tensor("enc_norm.weight", (dim,))
    tensors["norm.bias"] = check.tensor("enc_norm.bias", (dim,))
    rope = ROPE.fullmatch(kwargs["pos_embed"])
    if rope:
        if (dim // heads) % 4:
            raise ValueError(f"{source}: RoPE needs a head width divisible by 4, got {dim // heads}")
        positions = {"kind": "grid_rope", "head_dim": dim // heads, "base": float(rope.group(1))}
    else:
        table = check.tensor("enc_pos_embed", (None, dim))
        grid = math.isqrt(table.shape[0])
        if grid < 1 or grid * grid != table.shape[0]:
            raise ValueError(f"{source}: enc_pos_embed holds {table.shape[0]} entries, not a square grid")
        tensors["positions.table"] = table[None]
        positions = {"kind": "table", "grid": grid, "dim": dim, "cls_entry": False, "offset": 0.0, "antialias": False}
    check.finish(ignored=lambda key: key.startswith(DECODER_PREFIXES))
    config = PlainViTConfig(
        dim,
        depth,
        heads,
        patch_size,
        "mlp",
        hidden,
        layer_scale=False,
        eps=EPS,
        cls_token=False,
        num_registers=0,
        positions=positions,
    )
    return load_checked(lambda: PlainViT(config), tensors, source)
