"""A plain frame-wise ViT, assembled from the parts the published ViTs share (DINOv2, DINOv3, MAE, CroCo v2).

Every family is a pre-norm transformer: patch embedding (a ``p x p`` convolution with stride ``p``), optional
prefix tokens (a class token, then register / storage tokens), additive position embeddings or a rotary
embedding of the patch tokens, ``depth`` blocks ``x + ls1 * attn(norm1(x))``, ``x + ls2 * ffn(norm2(x))``
(LayerScale ``ls`` optional) and a final LayerNorm. Attention: one ``qkv`` Linear whose rows are q, k, v, each
holding the heads as contiguous blocks of channels, softmax scale ``1 / sqrt(head_dim)``. The feed-forward is
an MLP with exact GELU, or a SwiGLU (``silu(a) * b``) with its two input projections fused (DINOv2-g) or
separate (DINOv3 "plus" sizes).

Parameter names follow the published files where they can (``blocks.{i}.attn.qkv``, ``blocks.{i}.mlp.fc1``,
``norm``, ...), so each family's reader renames little. The readers (``muskie.model.published.dinov2``,
``dinov3``, ``mae``, ``croco``) build this module from shapes they have checked, and only then fill it. Its
architecture is a :class:`PlainViTConfig` of plain values, so a model holding a ViT read from a published file
is saved and rebuilt without that file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from muskie.model.layers.sdpa import scaled_dot_product
from muskie.model.published.positions import Rotate, positions_from_spec

FFN_KINDS = ("mlp", "swiglu_fused", "swiglu")


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))`` with exact GELU."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class FusedSwiGLU(nn.Module):
    """``w3(silu(a) * b)`` with ``(a, b)`` the two halves of ``w12(x)`` (DINOv2's ``SwiGLUFFNFused``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


class SwiGLU(nn.Module):
    """``w3(silu(w1(x)) * w2(x))`` (DINOv3's ``SwiGLUFFN``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(dim, hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


def feed_forward(kind: str, dim: int, hidden: int) -> nn.Module:
    """The feed-forward of ``kind`` (one of :data:`FFN_KINDS`) with ``hidden`` inner channels."""
    modules = {"mlp": Mlp, "swiglu_fused": FusedSwiGLU, "swiglu": SwiGLU}
    if kind not in modules:
        raise ValueError(f"unknown feed-forward kind {kind!r}; choose one of {', '.join(FFN_KINDS)}")
    return modules[kind](dim, hidden)


class SelfAttention(nn.Module):
    """Multi-head self-attention over ``(N, T, E)`` tokens; a rotary embedding, when given, turns the queries
    and keys of the tokens after the first ``prefix`` ones (the patches)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rotate: Rotate | None = None, prefix: int = 0) -> torch.Tensor:
        n, t, e = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.num_heads, e // self.num_heads).permute(2, 0, 3, 1, 4)
        if rotate is not None:
            q = torch.cat([q[:, :, :prefix], rotate(q[:, :, prefix:])], dim=2)
            k = torch.cat([k[:, :, :prefix], rotate(k[:, :, prefix:])], dim=2)
        out = scaled_dot_product(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, t, e))


class Block(nn.Module):
    """A pre-norm transformer layer; ``ls1``, ``ls2`` are per-channel LayerScale vectors when ``layer_scale``."""

    def __init__(self, dim: int, num_heads: int, ffn: str, hidden: int, layer_scale: bool, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = feed_forward(ffn, dim, hidden)
        self.ls1 = nn.Parameter(torch.ones(dim)) if layer_scale else None
        self.ls2 = nn.Parameter(torch.ones(dim)) if layer_scale else None

    def forward(self, x: torch.Tensor, rotate: Rotate | None = None, prefix: int = 0) -> torch.Tensor:
        y = self.attn(self.norm1(x), rotate, prefix)
        x = x + (y if self.ls1 is None else self.ls1 * y)
        y = self.mlp(self.norm2(x))
        return x + (y if self.ls2 is None else self.ls2 * y)


@dataclass(frozen=True)
class PlainViTConfig:
    """The architecture of a :class:`PlainViT`.

    Attributes:
        dim: token width ``E``; depth: blocks; num_heads: attention heads; patch_size: ``p`` pixels.
        ffn: feed-forward kind (:data:`FFN_KINDS`); hidden: its inner width; layer_scale: LayerScale on both
            residual branches; eps: LayerNorm epsilon (all norms).
        cls_token: a class token first; num_registers: register / storage tokens after it (no position).
        positions: the position code as ``muskie.model.published.positions`` describes it (``{"kind":
            "table" | "normalized_rope" | "grid_rope", ...}``): absolute embeddings or a rotary embedding of
            the patches; see :meth:`PlainViT.tokens`.
    """

    dim: int
    depth: int
    num_heads: int
    patch_size: int
    ffn: str
    hidden: int
    layer_scale: bool
    eps: float
    cls_token: bool
    num_registers: int
    positions: dict

    def to_dict(self) -> dict:
        """Plain values (what weights files store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "vit") -> PlainViTConfig:
        """The config of ``values`` (a :meth:`to_dict`), every field required and type-checked; ValueError
        naming ``where`` and the field otherwise (``values`` come from a weights file)."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        if not isinstance(values, dict) or set(values) != set(fields):
            shown = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"{where}: a PlainViT config has the keys {sorted(fields)}, got {shown}")
        kinds = {"int": int, "str": str, "bool": bool, "float": (int, float), "dict": dict}
        for name, kind in fields.items():  # the annotations are strings (postponed evaluation)
            value = values[name]
            # bool is an int to Python: only a flag may be one
            wrong = isinstance(value, bool) != (kind == "bool") or not isinstance(value, kinds[kind])
            if wrong or (kind == "int" and value < (0 if name == "num_registers" else 1)):
                raise ValueError(f"{where}.{name}: {value!r} is not a valid {name}")
        if values["ffn"] not in FFN_KINDS or not (math.isfinite(values["eps"]) and values["eps"] > 0):
            raise ValueError(f"{where}: ffn must be one of {', '.join(FFN_KINDS)} and eps > 0, got {values}")
        positions_from_spec(values["positions"], f"{where}.positions")  # refuses a bad position code
        return cls(**{**values, "eps": float(values["eps"])})


class PlainViT(nn.Module):
    """A frame-wise ViT of a :class:`PlainViTConfig`: :meth:`layers_out` gives the patch tokens of chosen
    blocks on the patch grid.

    ``grad_checkpointing`` (off by default) recomputes each block's activations in the backward pass instead
    of storing them, in training mode with gradients on.
    """

    def __init__(self, config: PlainViTConfig):
        super().__init__()
        if config.dim % config.num_heads:
            raise ValueError(f"width {config.dim} is not divisible by {config.num_heads} heads")
        self.config = config
        self.grad_checkpointing = False
        dim = config.dim
        self.patch_size = config.patch_size
        self.patch_embed = nn.Conv2d(3, dim, config.patch_size, stride=config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if config.cls_token else None
        registers = config.num_registers
        self.register_tokens = nn.Parameter(torch.zeros(1, registers, dim)) if registers else None
        self.positions = positions_from_spec(config.positions)
        self.blocks = nn.ModuleList(
            Block(dim, config.num_heads, config.ffn, config.hidden, config.layer_scale, config.eps)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(dim, eps=config.eps)

    @property
    def num_prefix(self) -> int:
        """Tokens before the patches: the class token and the registers."""
        registers = 0 if self.register_tokens is None else self.register_tokens.shape[1]
        return int(self.cls_token is not None) + registers

    def tokens(self, images: torch.Tensor) -> tuple[torch.Tensor, Rotate | None]:
        """``(N, T, E)`` input tokens of ``images (N, 3, H, W)`` (``H``, ``W`` multiples of ``p``) and the
        rotary embedding of the patches (None for absolute embeddings). Order: class token, registers,
        patches; an absolute table adds to the patches and, if it has an entry for it, to the class token
        (registers get none, as in DINOv2)."""
        n, _, height, width = images.shape
        grid_h, grid_w = height // self.patch_size, width // self.patch_size
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        code = self.positions(grid_h, grid_w, dtype=x.dtype, device=x.device)
        if code.patches is not None:
            x = x + code.patches
        prefix = []
        if self.cls_token is not None:
            cls = self.cls_token.to(x.dtype) if code.cls is None else self.cls_token.to(x.dtype) + code.cls
            prefix.append(cls.expand(n, -1, -1))
        if self.register_tokens is not None:
            prefix.append(self.register_tokens.to(x.dtype).expand(n, -1, -1))
        return torch.cat([*prefix, x], dim=1), code.rotate

    def layers_out(self, images: torch.Tensor, blocks: Sequence[int]) -> dict[int, torch.Tensor]:
        """Patch tokens ``(N, h, w, E)`` after each block of ``blocks`` (non-negative indices), each passed
        through the final LayerNorm (as DINOv2's ``get_intermediate_layers(norm=True)``), from one pass over
        ``images (N, 3, H, W)`` normalised as the family expects."""
        n, _, height, width = images.shape
        grid_h, grid_w = height // self.patch_size, width // self.patch_size
        x, rotate = self.tokens(images)
        prefix = self.num_prefix
        out = {}
        checkpointing = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for index, block in enumerate(self.blocks[: max(blocks) + 1]):
            x = checkpoint(block, x, rotate, prefix, use_reentrant=False) if checkpointing else block(x, rotate, prefix)
            if index in blocks:
                out[index] = self.norm(x[:, prefix:]).reshape(n, grid_h, grid_w, -1)
        return out
