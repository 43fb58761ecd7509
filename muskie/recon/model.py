"""The feed-forward reconstruction model (brief section 5): a Muskie backbone (or a published frame-wise ViT,
``muskie.recon.encoders``), new alternating-attention blocks, a DPT head for per-view local pointmaps with
confidence, and a camera head.

Nothing in it singles out a view: no reference view, no view index. Permuting the input views permutes
every output the same way, and the cameras come out in a world frame of the model's choosing (pi3's
reference-free design); compare them through relative poses (``muskie.geometry.relative_poses``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from muskie.config_io import from_dict, to_dict
from muskie.constants import NUM_REGISTER_TOKENS, ROPE_BASE
from muskie.model import MuskieBackbone
from muskie.model.backbone import init_linear_and_norm
from muskie.model.config import MuskieConfig, preset_config
from muskie.model.hub import HubModel
from muskie.model.layers import AlternatingAttentionBlock, rope_tables, token_positions
from muskie.recon.config import ReconModelConfig
from muskie.recon.encoders import ViTEncoder, read_encoder
from muskie.recon.heads import CameraHead, DPTHead
from muskie.weights import build_and_load
from muskie.weights.hub import HubOptions


@dataclass
class ReconOutput:
    """What :class:`ReconModel` returns for ``B`` scenes of ``V`` views of ``H x W`` pixels.

    Attributes:
        local_points: ``(B, V, H, W, 3)`` float32, each pixel's 3D point in its own camera's frame (OpenCV
            axes): ``(x * z, y * z, z)`` with ``z = exp(.)`` > 0 the depth, in the model's unit of length.
        confidence: ``(B, V, H, W)`` in (0, 1); ``confidence_logits`` the logits it is the sigmoid of.
        cam_to_world: ``(B, V, 4, 4)`` rigid camera-to-world poses in the model's world frame.
        points: ``(B, V, H, W, 3)`` the local points moved into that world frame by their view's pose.
    """

    local_points: torch.Tensor
    confidence: torch.Tensor
    confidence_logits: torch.Tensor
    cam_to_world: torch.Tensor
    points: torch.Tensor


def default_head_layers(num_layers: int) -> list[int]:
    """Four evenly spaced block indices out of ``num_layers`` (>= 4), the last one included."""
    if num_layers < 4:
        raise ValueError(f"the DPT head reads 4 blocks' features; the model has only {num_layers} blocks")
    return [(k + 1) * num_layers // 4 - 1 for k in range(4)]


class ReconModel(HubModel):
    """Backbone -> ``new_blocks`` AA blocks -> DPT head (points + confidence) and camera head.

    The backbone is a :class:`MuskieBackbone` (``self.backbone.config`` its config) or a
    :class:`~muskie.recon.encoders.ViTEncoder` (a published frame-wise ViT); the new blocks, heads and patch
    grid take its width, heads and patch size. The new blocks carry their own register tokens and use
    Muskie's RoPE positions (the backbone's base; 100 after a ViT encoder); they and the heads are
    initialised as the backbone is (truncated normal, std 0.02, zero biases), except the camera head's
    output layers, which start at the identity pose. ``metadata`` records the image size the model was
    trained at (``{"image_size": [H, W]}``, set by the training task and kept in its weights files).
    Saving, loading and ``push_to_hub`` come from :class:`~muskie.model.hub.HubModel`.
    """

    def __init__(self, backbone: MuskieBackbone | ViTEncoder, config: ReconModelConfig | None = None):
        super().__init__()
        # a fresh default per model: the config is mutable and the model keeps it
        config = ReconModelConfig() if config is None else config
        self.config = config
        self.metadata: dict = {}
        self.backbone = backbone
        if isinstance(backbone, MuskieBackbone):
            bc = backbone.config
            width, heads, hidden, depth = bc.embed_dim, bc.num_heads, bc.mlp_hidden_dim, bc.depth
            self.patch_size, self.num_registers, self.rope_base = bc.patch_size, bc.num_registers, bc.rope_base
        else:
            width, heads, depth = backbone.embed_dim, backbone.num_heads, backbone.depth
            hidden = int(width * MuskieConfig.mlp_ratio)  # the default ratio of Muskie's blocks
            self.patch_size, self.num_registers, self.rope_base = backbone.patch_size, NUM_REGISTER_TOKENS, ROPE_BASE
        if (width // heads) % 4:
            raise ValueError(f"the new blocks' 2D RoPE needs heads of a multiple of 4 channels, got {width // heads}")
        self.backbone_depth = depth
        self.head_dim = width // heads
        self.num_layers = depth + config.new_blocks
        self.head_layers = list(config.head_layers) or default_head_layers(self.num_layers)
        if len(self.head_layers) != 4 or not all(0 <= i < self.num_layers for i in self.head_layers):
            raise ValueError(f"head_layers must be 4 block indices in 0..{self.num_layers - 1}, got {self.head_layers}")
        self.register_tokens = nn.Parameter(torch.empty(1, 1, self.num_registers, width))
        self.blocks = nn.ModuleList(AlternatingAttentionBlock(width, heads, hidden) for _ in range(config.new_blocks))
        self.point_head = DPTHead(width, self.patch_size, out_channels=4, dim=config.dpt_dim)
        self.camera_head = CameraHead(width, config.camera_dim)
        self._init_new_parameters()
        if config.freeze_backbone:
            self.backbone.requires_grad_(False)
        if isinstance(backbone, MuskieBackbone):
            # reconstruction masks nothing: the mask token gets no gradient (and DDP must not wait for one)
            backbone.mask_placeholder.requires_grad_(False)
        if config.grad_checkpointing:
            self.backbone.set_grad_checkpointing(True)

    def config_dict(self) -> dict:
        """``{"backbone": <MuskieConfig dict>, "head": <ReconModelConfig dict>}``, or ``{"encoder":
        <ViTEncoder config>, "head": ...}`` after a published ViT: what weights files store, enough to rebuild
        the model without the backbone's (or encoder's) original weights file."""
        head = to_dict(self.config)
        if isinstance(self.backbone, MuskieBackbone):
            # a key added with the encoders: left out when unused, so earlier folders are written again as they were
            del head["encoder"]
            return {"backbone": self.backbone.config.to_dict(), "head": head}
        return {"encoder": self.backbone.config_dict(), "head": head}

    @classmethod
    def from_config_dict(cls, values: dict) -> ReconModel:
        """A freshly initialised model of the config :meth:`config_dict` returned; ValueError for a bad one."""
        kinds = [
            key for key in ("backbone", "encoder") if isinstance(values, dict) and isinstance(values.get(key), dict)
        ]
        if len(kinds) != 1 or set(values) - {kinds[0], "head"}:
            shown = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(
                f"a ReconModel config is {{'backbone' or 'encoder': {{...}}, 'head': {{...}}}}, got {shown}"
            )
        head = from_dict(ReconModelConfig, values.get("head", {}), where="head")
        if kinds[0] == "encoder":
            return cls(ViTEncoder.from_config_dict(values["encoder"]), head)
        return cls(MuskieBackbone.from_config_dict(values["backbone"]), head)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
        **overrides: Any,
    ) -> ReconModel:
        """The reconstruction model stored at ``pretrained_model_name_or_path`` (a folder or a reconstruction
        checkpoint), loaded strictly, with its ``metadata``; or, when no such local path exists, the Hugging
        Face Hub repository ``org/name`` (see :meth:`MuskieBackbone.from_pretrained` for the download
        arguments). ``overrides`` change :class:`ReconModelConfig` fields of the head (e.g.
        ``freeze_backbone``, ``grad_checkpointing``). A file of another model is a ValueError."""
        options = HubOptions(revision, cache_dir, force_download, token, local_files_only)
        weights = cls.read_pretrained(pretrained_model_name_or_path, options, allow_pickle=False)
        if weights.model_class != cls.__name__:
            raise ValueError(
                f"{weights.source}: holds a {weights.model_class}, not a {cls.__name__}; load it with muskie.load_model"
            )
        values = weights.model_config
        head = values.get("head", {}) if isinstance(values, dict) else None
        if overrides and isinstance(head, dict):  # a malformed config is from_config_dict's to report
            values = {**values, "head": {**head, **overrides}}
        model = build_and_load(
            lambda: cls.from_config_dict(values),
            weights.state_dict,
            weights.source,
            config_source=weights.config_source,
        )
        model.metadata = dict(weights.metadata)
        return model

    def _init_new_parameters(self) -> None:
        nn.init.trunc_normal_(self.register_tokens, std=0.02)
        init_linear_and_norm([*self.blocks.modules(), *self.point_head.modules()])

    def forward(self, images: torch.Tensor) -> ReconOutput:
        """Reconstruct ``images (B, V, 3, H, W)`` in [-1, 1], ``H`` and ``W`` multiples of the patch size."""
        depth = self.backbone_depth
        # a frozen backbone needs no graph: saves the memory of its activations
        with torch.no_grad() if self.config.freeze_backbone else contextlib.nullcontext():
            if isinstance(self.backbone, MuskieBackbone):
                features = dict(enumerate(self.backbone(images).features))  # block -> (B, V, L, E)
            else:  # only the blocks read: the heads' and the last
                read = sorted({i for i in self.head_layers if i < depth} | {depth - 1})
                features = self.backbone(images, read)
        b, v, _, height, width = images.shape
        grid_h, grid_w = height // self.patch_size, width // self.patch_size

        x = features[depth - 1]
        registers = self.register_tokens.to(x.dtype).expand(b, v, -1, -1)
        x = torch.cat([registers, x], dim=2)
        positions = token_positions(grid_h, grid_w, self.num_registers, device=images.device)
        cos, sin = rope_tables(positions, self.head_dim, self.rope_base, dtype=x.dtype)
        checkpointing = self.config.grad_checkpointing and self.training and torch.is_grad_enabled()
        for index, block in enumerate(self.blocks):
            x, _ = checkpoint(block, x, cos, sin, use_reentrant=False) if checkpointing else block(x, cos, sin)
            features[depth + index] = x[:, :, self.num_registers :]

        dense = self.point_head([features[i] for i in self.head_layers], (height, width)).float()
        dense = dense.permute(0, 1, 3, 4, 2)  # (B, V, H, W, 4)
        xy, log_depth, logits = dense[..., :2], dense[..., 2:3], dense[..., 3]
        local_points = torch.cat([xy * torch.exp(log_depth), torch.exp(log_depth)], dim=-1)
        cam_to_world = self.camera_head(features[self.num_layers - 1]).float()
        rotation, translation = cam_to_world[:, :, None, None, :3, :3], cam_to_world[:, :, None, None, :3, 3]
        points = (rotation @ local_points[..., None])[..., 0] + translation
        return ReconOutput(
            local_points=local_points,
            confidence=torch.sigmoid(logits),
            confidence_logits=logits,
            cam_to_world=cam_to_world,
            points=points,
        )


def initial_backbone(config: ReconModelConfig) -> MuskieBackbone | ViTEncoder:
    """The backbone fine-tuning starts from: pre-trained weights (any file
    :meth:`MuskieBackbone.from_pretrained` reads; pixel head dropped, cross-view attention on), a published
    ViT (``config.encoder``, :func:`~muskie.recon.encoders.read_encoder`), or a random initialisation of
    ``config.backbone`` with ``config.backbone_overrides`` (no file is read)."""
    if config.encoder is not None:
        if config.backbone_weights is not None:
            raise ValueError("encoder and backbone_weights are both set: the encoder replaces the Muskie backbone")
        return read_encoder(config.encoder)
    if config.backbone_weights is None:
        return MuskieBackbone(preset_config(config.backbone, **config.backbone_overrides))
    return MuskieBackbone.from_pretrained(
        config.backbone_weights, allow_pickle=config.allow_pickle, cross_view=True, grad_checkpointing=False
    )


def build_recon_model(config: ReconModelConfig | None = None) -> ReconModel:
    """A :class:`ReconModel` with the backbone ``config`` names (see :func:`initial_backbone`); None: the
    defaults (a random tiny backbone)."""
    config = ReconModelConfig() if config is None else config
    return ReconModel(initial_backbone(config), config)
