"""The optimiser every task trains with: AdamW with decoupled weight decay on weight matrices only."""

from __future__ import annotations

import torch
from torch import nn

from muskie.train.config import OptimConfig

# ``optim.implementation`` -> AdamW's keyword arguments
IMPLEMENTATION_OPTIONS: dict[str, dict[str, bool]] = {
    "default": {},
    "for_loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}
# the param-group entries those arguments set
IMPLEMENTATION_KEYS = ("foreach", "fused")


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; biases, norms, register and mask tokens get no weight decay (as
    in MAE and DINOv2). The learning rate is set by the engine every step; ``config.implementation`` picks
    the update's kernels (``foreach`` / ``fused`` of ``torch.optim.AdamW``)."""
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
    options = IMPLEMENTATION_OPTIONS[config.implementation]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, **options)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a saved ``optimizer.state_dict()`` into ``optimizer``, keeping ``optimizer``'s implementation.

    ``load_state_dict`` alone would bring back the saved run's ``foreach`` / ``fused`` choice, which a resumed
    run may change (``optim.implementation``); the moments and step counts load as they are. A state of
    other parameter groups is left to ``load_state_dict`` to refuse (ValueError).
    """
    saved_groups = state.get("param_groups", [])
    if len(saved_groups) == len(optimizer.param_groups):
        current = optimizer.param_groups
        groups = [
            {**saved, **{key: now[key] for key in IMPLEMENTATION_KEYS if key in now}}
            for saved, now in zip(saved_groups, current, strict=True)
        ]
        state = {**state, "param_groups": groups}
    optimizer.load_state_dict(state)
