"""The attention kernel every muskie layer calls: torch's fused ``scaled_dot_product_attention``, in float32 on a
CPU where its bf16 backward is the slow one.

On a CPU, torch's fused attention kernel runs a bf16 forward and backward up to 2.3x slower than a float32 one,
casts to and from float32 included, when each (sequence, head) holds few keys: 2.3x at the 68 keys of 32
channels of one ``tiny`` view, 1.8x at 128 keys of 32, 1.4x at 128 of 64, 1.1x at 256 of 32. At 384 keys of 32
and 256 of 64 the two are level; from there up bf16 is faster, 1.3x at 800 keys of 64
(``benchmarks/bench_attention.py``; docs/performance.md, "Attention in float32 where bf16 is slow"). So a bf16
attention on a CPU whose gradient will be needed, over at most ``CPU_FLOAT32_ATTENTION_MAX_VALUES`` keys x
channels per head (256 keys of 32, 128 of 64), is computed in float32 from the same bf16 inputs and rounded
back to bf16, at least as exact (tests/test_sdpa.py). Everything else (CUDA, float32, inference, longer
sequences) calls the kernel as it is.

:func:`hidden_keys_mask` builds the attention mask of ``hide_mask_tokens`` pre-training: tokens that the others
must not see.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# keys x head width per (sequence, head) up to which a CPU bf16 attention with a backward runs in float32
CPU_FLOAT32_ATTENTION_MAX_VALUES = 8192


def float32_on_cpu(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether :func:`scaled_dot_product` computes this attention in float32 (the rule of the module's
    docstring)."""
    return (
        q.device.type == "cpu"
        and q.dtype == torch.bfloat16
        and torch.is_grad_enabled()
        and (q.requires_grad or k.requires_grad or v.requires_grad)
        and k.shape[-2] * k.shape[-1] <= CPU_FLOAT32_ATTENTION_MAX_VALUES
    )


def scaled_dot_product(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax attention ``(..., S_q, d)`` of queries ``q (..., S_q, d)`` over keys ``k`` and values ``v``
    ``(..., S_k, d)``, scale ``1 / sqrt(d)``, in the dtype of ``q``: torch's fused kernel, in float32 where
    :func:`float32_on_cpu` says so (outside autocast, which would round the inputs back). ``attn_mask``: None
    (every key), or bool broadcastable to ``(..., S_q, S_k)``, True where the query may attend to the key
    (:func:`hidden_keys_mask`); every query must keep at least one key."""
    if not float32_on_cpu(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    with torch.autocast("cpu", enabled=False):
        return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=attn_mask).to(q.dtype)


def hidden_keys_mask(hidden: torch.Tensor) -> torch.Tensor:
    """``(N, 1, S, S)`` bool attention mask (query, key) of ``N`` sequences of ``S`` tokens from ``hidden (N,
    S)`` bool: a token that is not hidden attends only to tokens that are not hidden; a hidden token attends
    to every token. So what the other tokens compute never depends on the hidden ones (as if those were
    dropped), while the hidden ones still read everything."""
    return ~hidden[:, None, None, :] | hidden[:, None, :, None]
