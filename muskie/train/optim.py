"""The optimiser every task trains with: AdamW with decoupled weight decay on weight matrices only."""

from __future__ import annotations

import torch
from torch import nn

from muskie.train.config import OptimConfig


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; biases, norms, register and mask tokens get no weight decay (as
    in MAE and DINOv2). The learning rate is set by the engine every step."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = param.ndim <= 1 or name.endswith("_tokens") or "mask_placeholder" in name
        (no_decay if exempt else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)
