"""``Muskie``: the backbone plus the pre-training pixel head, and the ``create_model`` registry."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# SourceAttention: named here so that the annotations MuskieOutput inherits resolve in this module (API docs)
from muskie.model.backbone import BackboneOutput, MuskieBackbone, SourceAttention, muskie_config  # noqa: F401
from muskie.model.config import MuskieConfig, preset_config
from muskie.weights import HEAD_PREFIXES, build_and_load, describe, read_weights


@dataclass(kw_only=True)
class MuskieOutput(BackboneOutput):
    """What :class:`Muskie` returns (``p`` = patch size, ``L = (H/p) * (W/p)``): the backbone's output and
    the pixel head's. With token dropping (``visible``), ``L`` is the ``N`` kept patches. With
    ``predict_patches`` (``M`` indices), the pixel head's three outputs are ``(M, 3*p*p)``, one row per index.

    Attributes:
        pred: ``(B, V, L, 3*p*p)`` predicted pixels of every patch in normalised units (the [-1, 1] scale
            of the input), ordered as :func:`muskie.model.patches.patchify` orders a patch.
        confidence: ``(B, V, L, 3*p*p)`` per-pixel, per-channel confidence in (0, 1).
        confidence_logits: ``(B, V, L, 3*p*p)`` the logits whose sigmoid is ``confidence``; losses take
            ``-log(confidence) = softplus(-logits)`` from them without underflow.
        features: the backbone's per-block patch features, ``(B, V, L, E)`` each.
        attention: block index -> ``(B, V, L, V, L)`` cross-view attention maps, for the blocks asked for.
        source_attention: block index -> their part involving the ``source_view``
            (:class:`~muskie.model.backbone.SourceAttention`), when one is given.
    """

    pred: torch.Tensor
    confidence: torch.Tensor
    confidence_logits: torch.Tensor


class Muskie(MuskieBackbone):
    """Muskie backbone with its pre-training head (LayerNorm, then Linear ``E -> 2 * 3*p*p``).

    The head reads the last block's patch tokens; the first ``3*p*p`` outputs are pixels, the last
    ``3*p*p`` confidence logits. The backbone's modules sit directly on this module, so the state_dict
    carries exactly the released checkpoints' names.
    """

    def __init__(self, config: MuskieConfig):
        super().__init__(config)
        self.decoder_norm = nn.LayerNorm(config.embed_dim)
        self.decoder_pred = nn.Linear(config.embed_dim, 2 * config.pixel_dim)
        nn.init.trunc_normal_(self.decoder_pred.weight, std=0.02)
        nn.init.zeros_(self.decoder_pred.bias)

    def forward(
        self,
        images: torch.Tensor,
        patch_mask: torch.Tensor | None = None,
        attention_blocks: Iterable[int] = (),
        visible: torch.Tensor | None = None,
        position_shift: torch.Tensor | None = None,
        source_view: int | None = None,
        hide_masked: bool = False,
        predict_patches: torch.Tensor | None = None,
    ) -> MuskieOutput:
        """Reconstruct every patch of ``images (B, V, 3, H, W)`` in [-1, 1].

        ``patch_mask (B, V, H/p, W/p)`` bool, True = masked; ``attention_blocks``, ``visible``,
        ``position_shift``, ``source_view`` and ``hide_masked`` as in :meth:`MuskieBackbone.forward` (with
        ``visible``, the kept patches only are predicted, in that order).

        ``predict_patches``: ``(M,)`` int64, run the pixel head on these patches only: indices into the
        ``B * V * L`` patches in row-major ``(B, V, L)`` order (for the masked ones,
        ``patch_mask.flatten().nonzero().squeeze(1)``). ``pred``, ``confidence`` and ``confidence_logits``
        are then ``(M, 3*p*p)``, row ``i`` the patch of index ``i``; the backbone runs as without it. Training
        reads the masked patches only, so it need not predict the rest. None: every patch.
        """
        if predict_patches is not None and (
            not isinstance(predict_patches, torch.Tensor)
            or predict_patches.dtype != torch.int64
            or predict_patches.dim() != 1
        ):
            raise ValueError("predict_patches must be a 1-D int64 tensor of patch indices into (B, V, L)")
        encoded = super().forward(
            images, patch_mask, attention_blocks, visible, position_shift, source_view, hide_masked
        )
        tokens = encoded.features[-1]  # (B, V, L, E)
        if predict_patches is not None:
            tokens = tokens.flatten(0, 2).index_select(0, predict_patches)  # (M, E)
        head = self.decoder_pred(self.decoder_norm(tokens))
        pred, logits = head.split(self.config.pixel_dim, dim=-1)
        return MuskieOutput(
            pred=pred,
            confidence=torch.sigmoid(logits),
            confidence_logits=logits,
            features=encoded.features,
            attention=encoded.attention,
            source_attention=encoded.source_attention,
        )


def parameter_counts(config: MuskieConfig) -> tuple[int, int]:
    """``(backbone, total)`` parameter counts of a :class:`Muskie` with ``config``, total including the
    pixel head. The model is built on the meta device, so even ``huge`` costs no memory."""
    with torch.device("meta"):
        model = Muskie(config)
    total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for name, p in model.named_parameters() if name.startswith(HEAD_PREFIXES))
    return total - head, total


def create_model(
    preset_name: str, pretrained: str | os.PathLike | None = None, *, allow_pickle: bool = False, **overrides: Any
) -> Muskie:
    """A :class:`Muskie` of the named preset (``tiny``, ``small``, ``base``, ``large``, ``huge``).

    ``overrides`` change config fields. ``pretrained``: weights to load strictly (any file
    :meth:`Muskie.from_pretrained` reads); they must fit the preset, else a ValueError names the file and
    the mismatch.
    """
    config = preset_config(preset_name, **overrides)
    if pretrained is None:
        return Muskie(config)
    weights = read_weights(pretrained, allow_pickle=allow_pickle)
    file_config = muskie_config(weights)
    shape_fields = ("embed_dim", "depth", "num_heads", "patch_size", "mlp_ratio", "num_registers")
    if any(getattr(file_config, f) != getattr(config, f) for f in shape_fields):
        raise ValueError(
            f"{pretrained}: checkpoint has {describe(file_config.to_dict())}, but preset {preset_name!r} "
            f"(with overrides) has {describe(config.to_dict())}"
        )
    return build_and_load(lambda: Muskie(config), weights.state_dict, weights.source)
