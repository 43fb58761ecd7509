"""The speed levers of issue 15, by name, and muskie's training step and inference with any of them on; shared
by ``bench_levers.py`` and ``release_compare.py``. Each lever is a switch of the library (its config key named
below); this file only turns them on the way a run would.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable

import torch

from muskie.model import Muskie, MuskieBackbone, compile_blocks
from muskie.model.layers import Attention, sdpa
from muskie.pretraining import MaskConfig, pretraining_loss
from muskie.train.config import OptimConfig
from muskie.train.engine import step_generator
from muskie.train.optim import build_optimizer

# name -> what it does and how a run turns it on
LEVERS = {
    "compile": "torch.compile of the alternating-attention blocks (compile: true)",
    "freeze": "inference only, measured but not a switch of the library (it does not pay, docs/performance.md): "
    "torch.compile of the whole model with inductor's freezing (weights folded into the graph as constants)",
    "foreach": "AdamW over all tensors of a group at once (optim.implementation: foreach)",
    "fused": "AdamW in one fused kernel (optim.implementation: fused)",
    "masked_head": "pixel head and loss on the masked patches only (predict_masked_only: true)",
    "rope_one_by_one": "q and k rotated one after the other: the reference of the default (rope_together)",
    "bf16_attention": "bf16 attention in torch's kernel at every length: the reference of the default, which "
    "computes short CPU attention with a backward in float32 (muskie.model.layers.sdpa)",
}
# the levers that change inference (the others belong to the training step)
INFERENCE_LEVERS = ("compile", "freeze", "rope_one_by_one")
# the levers that only inference has
INFERENCE_ONLY_LEVERS = ("freeze",)
# the release's optimiser settings (its pre-training recipe), used for every timed step
RELEASE_OPTIM = {"lr": 2e-4, "betas": (0.9, 0.95), "weight_decay": 0.05}


def inference_only(levers: tuple[str, ...]) -> list[str]:
    """Those of ``levers`` that a training step cannot use."""
    return [name for name in levers if name in INFERENCE_ONLY_LEVERS]


def parse_levers(text: str) -> tuple[str, ...]:
    """``compile,fused`` -> ``("compile", "fused")``; ``""`` or ``none`` -> none. An unknown lever is an
    ``argparse.ArgumentTypeError`` naming it (a usage error, exit 2, when this parses an option)."""
    names = tuple(name for name in text.split(",") if name and name != "none")
    unknown = [name for name in names if name not in LEVERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown lever(s) {', '.join(unknown)}; levers: {', '.join(LEVERS)}")
    if {"foreach", "fused"} <= set(names):
        raise argparse.ArgumentTypeError("foreach and fused are two implementations of AdamW: choose one")
    return names


def apply_model_levers(model: MuskieBackbone, levers: tuple[str, ...]) -> MuskieBackbone:
    """``model`` with the levers that change the model itself (RoPE path, compiled blocks) set, in place."""
    if "rope_one_by_one" in levers:
        for module in model.modules():
            if isinstance(module, Attention):
                module.rope_together = False
    if "compile" in levers:
        compile_blocks(model)
    return model


@contextlib.contextmanager
def attention_dispatch(levers: tuple[str, ...]):
    """With ``bf16_attention`` in ``levers``, bf16 attention stays in bf16 at every length while the block runs
    (the bound of :mod:`muskie.model.layers.sdpa` set to 0, then restored); otherwise nothing changes."""
    if "bf16_attention" not in levers:
        yield
        return
    bound = sdpa.CPU_FLOAT32_ATTENTION_MAX_VALUES
    sdpa.CPU_FLOAT32_ATTENTION_MAX_VALUES = 0
    try:
        yield
    finally:
        sdpa.CPU_FLOAT32_ATTENTION_MAX_VALUES = bound


def training_step(
    model: Muskie,
    images: torch.Tensor,
    levers: tuple[str, ...],
    autocast: contextlib.AbstractContextManager,
    mask_config: MaskConfig,
) -> Callable[[int], torch.Tensor]:
    """The pre-training task's step as a callable of the step index: view shuffle, masks (seeded by the
    index), forward, loss, backward, AdamW (the release's settings, muskie's weight-decay groups); returns
    the detached loss. ``images (B, V, 3, H, W)`` on the model's device; the model is changed in place.
    An inference-only lever is a ValueError."""
    if only_inference := inference_only(levers):
        raise ValueError(f"{', '.join(only_inference)}: inference-only lever(s); a training step cannot use them")
    apply_model_levers(model, levers)
    implementation = "fused" if "fused" in levers else "foreach" if "foreach" in levers else "default"
    optimizer = build_optimizer(model, OptimConfig(**RELEASE_OPTIM, implementation=implementation))
    masked_only = "masked_head" in levers

    def step(index: int) -> torch.Tensor:
        generator = step_generator(0, index)
        with attention_dispatch(levers):
            result = pretraining_loss(model, images, mask_config, generator, autocast, predict_masked_only=masked_only)
            result.output.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return result.output.loss.detach()

    return step


def inference(
    model: MuskieBackbone, images: torch.Tensor, levers: tuple[str, ...], autocast: contextlib.AbstractContextManager
) -> Callable[[int], object]:
    """Features of every block of ``images`` (no masks, eval mode, no gradients) as a callable of the call
    index (unused: inference draws nothing). A :class:`~muskie.model.Muskie` also runs its pixel head.
    ``freeze`` compiles the whole model with inductor's ``freezing`` option (scoped to this compilation): the
    weights become constants of the graph, so it is for a model whose weights no longer change."""
    model = apply_model_levers(model.eval(), levers)
    if "freeze" in levers:
        model = torch.compile(model, options={"freezing": True})

    def run(index: int) -> object:
        with torch.no_grad(), autocast:
            return model(images)

    return run
