"""The Muskie backbone: patch embedding, register tokens, mask token and alternating-attention blocks."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from muskie.model.config import MuskieConfig
from muskie.model.hub import HubModel
from muskie.model.layers import AlternatingAttentionBlock, PatchEmbed, rope_tables, token_positions
from muskie.weights import WeightsFile, build_and_load
from muskie.weights.hub import HubOptions

BackboneT = TypeVar("BackboneT", bound="MuskieBackbone")


def check_image_batch(images: torch.Tensor) -> tuple[int, int, int, int]:
    """``(B, V, H, W)`` of a ``(B, V, 3, H, W)`` float image batch, or a ValueError saying what is wrong."""
    if not isinstance(images, torch.Tensor) or images.dim() != 5 or images.shape[2] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a (B, V, 3, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [-1, 1], got dtype {images.dtype}")
    b, v, _, h, w = images.shape
    return b, v, h, w


def init_linear_and_norm(modules: Iterable[nn.Module]) -> None:
    """ViT initialisation of the Linear (truncated normal, std 0.02, zero bias) and LayerNorm (1, 0) modules
    among ``modules``."""
    for module in modules:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def muskie_config(weights: WeightsFile) -> MuskieConfig:
    """The :class:`MuskieConfig` of a weights file holding a Muskie or a bare backbone; a ValueError naming
    the file for any other model or an invalid config."""
    if weights.model_class not in ("Muskie", "MuskieBackbone"):
        held = f"a {weights.task} checkpoint of a {weights.model_class}" if weights.task else f"a {weights.model_class}"
        raise ValueError(
            f"{weights.source}: holds {held}, not a Muskie model or backbone; load it with muskie.load_model"
        )
    try:
        return MuskieConfig.from_dict(weights.model_config)
    except ValueError as err:
        raise ValueError(f"{weights.config_source}: invalid config: {err}") from None


# Models that hold a MuskieBackbone as their ``encoder`` (the peer recipes' models, ``muskie.peers``); a
# backbone loads out of their files.
ENCODER_HOLDERS = ("MAEModel", "MuMModel", "CroCoModel")


def encoder_weights(weights: WeightsFile) -> WeightsFile:
    """The ``encoder`` of a file of an :data:`ENCODER_HOLDERS` model as a bare backbone's weights; any other
    file as it is."""
    if weights.model_class not in ENCODER_HOLDERS:
        return weights
    prefix = "encoder."
    state_dict = {key[len(prefix) :]: t for key, t in weights.state_dict.items() if key.startswith(prefix)}
    return dataclasses.replace(
        weights, model_class="MuskieBackbone", model_config=weights.model_config["encoder"], state_dict=state_dict
    )


@dataclass
class SourceAttention:
    """The part of a cross-view attention map ``A (B, V, L, V, L)`` (query view, query cell, key view, key
    cell) that involves one source view ``s``: what the attention readouts of view ``s`` read, ``2 * L * V * L``
    values per scene instead of ``(V * L)^2``. Both tensors are ``(B, L, V, L)``, indexed (cell ``i`` of view
    ``s``, view ``u``, cell ``j`` of view ``u``).

    Attributes:
        source: the source view ``s``.
        outgoing: ``A[:, s, i, u, j]``, what ``s``'s cell ``i`` gives cell ``j`` of view ``u`` as a query: the
            rows of ``A`` whose queries are ``s``'s.
        incoming: ``A[:, u, j, s, i]``, what cell ``j`` of view ``u`` gives ``s``'s cell ``i``: the columns of
            ``A`` whose keys are ``s``'s, transposed. ``(outgoing + incoming) / 2`` is the symmetrised
            attention ``(A_s->u + A_u->s^T) / 2`` of every view ``u``.
    """

    source: int
    outgoing: torch.Tensor
    incoming: torch.Tensor

    @classmethod
    def of(cls, attention: torch.Tensor, source: int) -> SourceAttention:
        """The part of the full map ``attention (B, V, L, V, L)`` that involves view ``source``."""
        return cls(source, attention[:, source], attention[:, :, :, source].permute(0, 3, 1, 2))

    def to(self, device: torch.device | str) -> SourceAttention:
        """Both tensors on ``device``."""
        return SourceAttention(self.source, self.outgoing.to(device), self.incoming.to(device))


@dataclass
class BackboneOutput:
    """What :class:`MuskieBackbone` returns.

    Attributes:
        features: one ``(B, V, L, E)`` tensor per AA block (in block order): the patch tokens after that
            block, registers removed, ``L = (H/p) * (W/p)`` patches in row-major order (with token dropping,
            the ``N`` kept patches in the order ``visible`` lists them).
        attention: block index -> ``(B, V, L, V, L)`` head-averaged attention probabilities of that block's
            global layer between patch tokens (query view, query patch, key view, key patch), for the
            blocks asked for without a ``source_view``. Each query row sums to at most 1: the rest went to
            register tokens.
        source_attention: block index -> :class:`SourceAttention`, the same probabilities where they involve
            the ``source_view`` only, for the blocks asked for with one.
    """

    features: list[torch.Tensor]
    attention: dict[int, torch.Tensor] = field(default_factory=dict)
    source_attention: dict[int, SourceAttention] = field(default_factory=dict)


class MuskieBackbone(HubModel):
    """A native multi-view encoder: all views of a scene go through every block together.

    Parameter names are those of the released checkpoints (brief section 2). Initialisation follows the
    ViTs the release builds on: linear layers truncated-normal (std 0.02) with zero bias, the patch
    convolution Xavier-uniform on its flattened kernel (MAE), registers truncated-normal (std 0.02),
    LayerNorms at identity, and the mask token zero. Saving, loading and ``push_to_hub`` come from
    :class:`~muskie.model.hub.HubModel` (huggingface_hub's ``PyTorchModelHubMixin``).
    """

    def __init__(self, config: MuskieConfig):
        super().__init__()
        self.config = config
        self.metadata: dict = {}  # facts about the trained model that its weights file records
        e = config.embed_dim
        self.patch_embed = PatchEmbed(config.patch_size, e)
        self.register_tokens = nn.Parameter(torch.empty(1, 1, config.num_registers, e))
        self.mask_placeholder = nn.Parameter(torch.empty(1, 1, 1, e))
        self.blocks = nn.ModuleList(
            AlternatingAttentionBlock(e, config.num_heads, config.mlp_hidden_dim) for _ in range(config.depth)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_linear_and_norm(self.modules())
        self.patch_embed.reset_parameters()
        nn.init.trunc_normal_(self.register_tokens, std=0.02)
        nn.init.zeros_(self.mask_placeholder)

    def leading_blocks(self, depth: int) -> MuskieBackbone:
        """A :class:`MuskieBackbone` made of this model's patch embedding, register and mask tokens and its
        first ``depth`` blocks: the same parameter objects, not copies, so its features are exactly this
        model's first ``depth`` and training one trains the other. A pre-training run with a pixel decoder
        (``decoder_blocks``) evaluates and exports this part as its encoder. Raises ValueError unless
        ``1 <= depth <= config.depth``."""
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= self.config.depth:
            raise ValueError(f"depth must be a block count in 1..{self.config.depth}, got {depth!r}")
        with torch.device("meta"):
            part = MuskieBackbone(self.config.replace(depth=depth))
        own = self.state_dict(keep_vars=True)
        part.load_state_dict({name: own[name] for name in part.state_dict()}, strict=True, assign=True)
        part.metadata = dict(self.metadata)
        return part.train(self.training)

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        self.config = self.config.replace(grad_checkpointing=enabled)

    def config_dict(self) -> dict:
        """The config as plain values (:meth:`MuskieConfig.to_dict`): what weights files store."""
        return self.config.to_dict()

    @classmethod
    def from_config_dict(cls: type[BackboneT], values: dict) -> BackboneT:
        """A freshly initialised model of the config :meth:`config_dict` returned; ValueError for a bad one."""
        return cls(MuskieConfig.from_dict(values))

    @classmethod
    def from_pretrained(
        cls: type[BackboneT],
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        allow_pickle: bool = False,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
        **overrides: Any,
    ) -> BackboneT:
        """The model stored at ``pretrained_model_name_or_path`` (the argument's name in huggingface_hub),
        loaded strictly: one of our folders, a ``.safetensors`` file, a pre-training checkpoint (any format
        version; of a peer recipe, its encoder) or a released ``.pth`` (see
        :func:`muskie.weights.read_weights`); or, when no such local path exists, the Hugging Face Hub
        repository ``org/name`` (its folder, downloaded into the Hub cache; ``HF_HUB_OFFLINE=1`` or
        ``local_files_only`` reads the cache only). ``revision``, ``cache_dir``, ``force_download`` and
        ``token`` are huggingface_hub's, for that download.

        ``overrides`` change config fields (e.g. ``cross_view``, ``grad_checkpointing``). A bare backbone
        ignores the checkpoint's pixel head. ``allow_pickle``: unpickle Python objects (the release's
        training checkpoints need it; runs code from the file, so only for files you trust). Files of
        other models (a reconstruction checkpoint) are refused: load those with ``muskie.load_model``.
        """
        options = HubOptions(revision, cache_dir, force_download, token, local_files_only)
        weights = encoder_weights(cls.read_pretrained(pretrained_model_name_or_path, options, allow_pickle))
        config = muskie_config(weights).replace(**overrides)
        model = build_and_load(lambda: cls(config), weights.state_dict, weights.source)
        model.metadata = dict(weights.metadata)
        return model

    def forward(
        self,
        images: torch.Tensor,
        patch_mask: torch.Tensor | None = None,
        attention_blocks: Iterable[int] = (),
        visible: torch.Tensor | None = None,
        position_shift: torch.Tensor | None = None,
        source_view: int | None = None,
        hide_masked: bool = False,
    ) -> BackboneOutput:
        """Encode a batch of scenes.

        Args:
            images: ``(B, V, 3, H, W)`` float in [-1, 1] (see ``muskie.constants``); ``H`` and ``W``
                multiples of the patch size ``p``; any number of views ``V``.
            patch_mask: ``(B, V, H/p, W/p)`` bool, True where a patch is masked: its token is replaced by
                the learnable mask token. None masks nothing.
            attention_blocks: indices of the blocks whose global-layer attention maps to return. The
                features are the same with and without them: the maps are computed besides the fused
                attention kernel, a block of queries at a time (:mod:`muskie.model.layers.attention_maps`).
            visible: token dropping (MAE-style), instead of ``patch_mask``: ``(B, V, N)`` int64, for each
                view the row-major indices in ``0 .. L-1`` of the ``N`` patches it keeps (distinct, in
                ascending order; the same count ``N`` for every view). Only those patches and the registers
                go through the blocks, each rotated by its own patch position. None keeps every patch.
            position_shift: ``(B, V, 2)`` int64, a whole number of patch cells (rows, columns) added to the
                RoPE positions of every patch of each view (registers stay at the identity rotation). A
                training augmentation (``rope_view_shift`` of pre-training): views shifted differently no
                longer share positions, so attending to the same position in another view stops being a
                free guess. None (the paper's model): every view uses the same positions.
            source_view: None returns the full maps of ``attention_blocks`` (``attention``); a view index
                ``s`` in ``0 .. V-1`` returns only their part that involves view ``s``
                (``source_attention``, :class:`SourceAttention`), never holding the full maps.
            hide_masked: with ``patch_mask``, the masked patches' tokens are hidden from the others in every
                attention layer (:func:`muskie.model.layers.sdpa.hidden_keys_mask`): registers and visible
                patches attend only to registers and visible patches, so their features are those of token
                dropping with the same patches kept, while the mask tokens attend to every token. A
                pre-training variant (``hide_mask_tokens``); it cannot return attention maps (ValueError).

        Returns:
            :class:`BackboneOutput` with the features of every block and the requested attention maps; with
            ``visible`` they cover the kept patches only, in the order ``visible`` lists them: features
            ``(B, V, N, E)``, attention ``(B, V, N, V, N)``, source attention ``(B, N, V, N)``.
        """
        b, v, grid_h, grid_w = self._check_inputs(images, patch_mask, visible)
        if position_shift is not None and (
            not isinstance(position_shift, torch.Tensor)
            or position_shift.dtype != torch.int64
            or tuple(position_shift.shape) != (b, v, 2)
        ):
            raise ValueError(f"position_shift must be an int64 tensor of shape (B, V, 2) = {(b, v, 2)}")
        wanted = self._check_blocks(attention_blocks)
        if source_view is not None and (
            isinstance(source_view, bool) or not isinstance(source_view, int) or not 0 <= source_view < v
        ):
            raise ValueError(f"source_view must be a view index in 0..{v - 1}, got {source_view!r}")
        if hide_masked and (patch_mask is None or wanted):
            raise ValueError("hide_masked needs a patch_mask, and returns no attention maps (attention_blocks)")
        c = self.config

        tokens = self.patch_embed(images.flatten(0, 1)).unflatten(0, (b, v))  # (B, V, L, E)
        if patch_mask is not None:
            tokens = torch.where(patch_mask.flatten(2)[..., None], self.mask_placeholder.to(tokens.dtype), tokens)
        positions = token_positions(grid_h, grid_w, c.num_registers, device=images.device)  # (R + L, 2)
        if position_shift is not None:
            is_patch = (torch.arange(len(positions), device=images.device) >= c.num_registers)[:, None]
            positions = positions + is_patch * position_shift.reshape(b * v, 1, 2)  # (B * V, R + L, 2)
        cos, sin = rope_tables(positions, c.head_dim, c.rope_base, dtype=tokens.dtype)  # ([B * V,] R + L, D)
        if visible is not None:
            tokens = tokens.gather(2, visible[..., None].expand(-1, -1, -1, tokens.shape[-1]))  # (B, V, N, E)
            # each view's tables: the registers' rows, then those of its kept patches
            registers_rows = torch.arange(c.num_registers, device=visible.device).expand(b, v, -1)
            rows = torch.cat([registers_rows, visible + c.num_registers], dim=2).flatten(0, 1)  # (B * V, R + N)
            if cos.dim() == 3:
                views = torch.arange(b * v, device=rows.device)[:, None]
                cos, sin = cos[views, rows], sin[views, rows]
            else:
                cos, sin = cos[rows], sin[rows]  # (B * V, R + N, D)
        registers = self.register_tokens.to(tokens.dtype).expand(b, v, -1, -1)
        x = torch.cat([registers, tokens], dim=2)  # (B, V, T, E), T = R + L (or R + N)

        r = c.num_registers
        hidden = None
        if hide_masked and patch_mask is not None:  # (B, V, T): the masked patches; registers are never hidden
            hidden = torch.cat([patch_mask.new_zeros(b, v, r), patch_mask.flatten(2)], dim=2)
        output = BackboneOutput(features=[])
        checkpointing = c.grad_checkpointing and self.training and torch.is_grad_enabled()
        for index, block in enumerate(self.blocks):
            want = index in wanted
            if checkpointing:
                x, attention = checkpoint(
                    block, x, cos, sin, c.cross_view, want, source_view, hidden, use_reentrant=False
                )
            else:
                x, attention = block(x, cos, sin, c.cross_view, want, source_view, hidden)
            output.features.append(x[:, :, r:])
            if attention is None:
                continue
            if source_view is None:
                output.attention[index] = attention[:, :, r:, :, r:]
            else:
                patches = attention[:, :, r:, :, r:]  # (B, 2, L, V, L)
                output.source_attention[index] = SourceAttention(source_view, patches[:, 0], patches[:, 1])
        return output

    def _check_inputs(
        self, images: torch.Tensor, patch_mask: torch.Tensor | None, visible: torch.Tensor | None = None
    ) -> tuple[int, int, int, int]:
        p = self.config.patch_size
        b, v, h, w = check_image_batch(images)
        if b == 0 or v == 0 or h == 0 or w == 0 or h % p or w % p:
            raise ValueError(
                f"images of shape {tuple(images.shape)}: B and V must be positive and H, W positive multiples "
                f"of the patch size {p}"
            )
        if patch_mask is not None:
            expected = (b, v, h // p, w // p)
            if not isinstance(patch_mask, torch.Tensor) or patch_mask.dtype != torch.bool:
                raise ValueError(f"patch_mask must be a bool tensor of shape {expected}")
            if tuple(patch_mask.shape) != expected:
                raise ValueError(
                    f"patch_mask has shape {tuple(patch_mask.shape)}, expected (B, V, H/p, W/p) = {expected}"
                )
        if visible is not None:
            if patch_mask is not None:
                raise ValueError("give patch_mask (mask tokens) or visible (token dropping), not both")
            if not isinstance(visible, torch.Tensor) or visible.dtype != torch.int64 or visible.dim() != 3:
                raise ValueError("visible must be an int64 tensor (B, V, N) of kept patch indices")
            if tuple(visible.shape[:2]) != (b, v) or not 1 <= visible.shape[2] <= (h // p) * (w // p):
                raise ValueError(
                    f"visible has shape {tuple(visible.shape)}, expected (B, V, N) with (B, V) = "
                    f"{(b, v)} and 1 <= N <= L = {(h // p) * (w // p)}"
                )
        return b, v, h // p, w // p

    def _check_blocks(self, attention_blocks: Iterable[int]) -> set[int]:
        wanted = set(attention_blocks)
        depth = self.config.depth
        bad = sorted(str(i) for i in wanted if not isinstance(i, int) or not 0 <= i < depth)
        if bad:
            raise ValueError(f"attention_blocks must be block indices in 0..{depth - 1}, got {', '.join(bad)}")
        return wanted
