"""The attention kernel's dispatch: bf16 attention with a backward over few keys runs in float32 on a CPU, and
its output and gradients match float64 better than, or as well as, bf16's kernel."""

import math

import pytest
import torch
import torch.nn.functional as F

from muskie.model.layers import sdpa
from muskie.model.layers.sdpa import (
    CPU_FLOAT32_ATTENTION_MAX_VALUES,
    float32_on_cpu,
    hidden_keys_mask,
    scaled_dot_product,
)


def qkv(n, heads, keys, width, dtype=torch.bfloat16, requires_grad=True, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(n, heads, keys, width, generator=generator).to(dtype).requires_grad_(requires_grad)
        for _ in range(3)
    ]


def float64_attention(q, k, v):
    q, k, v = q.double(), k.double(), v.double()
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v


def test_the_rule_names_bf16_cpu_attention_with_a_backward_over_few_keys():
    width = 32
    short = CPU_FLOAT32_ATTENTION_MAX_VALUES // width
    assert float32_on_cpu(*qkv(2, 2, short, width))
    assert not float32_on_cpu(*qkv(2, 2, short + 1, width)), "more key values per head than the bound"
    assert not float32_on_cpu(*qkv(2, 2, 8, width, dtype=torch.float32)), "float32 stays as it is"
    assert not float32_on_cpu(*qkv(2, 2, 8, width, requires_grad=False)), "no backward: bf16's forward is as fast"
    with torch.no_grad():
        assert not float32_on_cpu(*qkv(2, 2, 8, width))


def test_short_bf16_attention_is_float32_attention_rounded_to_bf16():
    q, k, v = qkv(3, 2, 20, 16)
    out = scaled_dot_product(q, k, v)
    assert out.dtype == torch.bfloat16
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float()).to(torch.bfloat16)
    assert torch.equal(out, expected)
    # autocast would round float32 inputs back to bf16: the float32 path runs outside it, so nothing changes
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(scaled_dot_product(q, k, v), expected)


def test_long_bf16_attention_is_the_kernel_as_it_is():
    width = 32
    q, k, v = qkv(1, 2, CPU_FLOAT32_ATTENTION_MAX_VALUES // width + 8, width)
    assert torch.equal(scaled_dot_product(q, k, v), F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("keys", [12, 40])
def test_float32_path_output_and_gradients_match_float64(keys):
    q, k, v = qkv(2, 3, keys, 32, seed=keys)
    grad = torch.randn(2, 3, keys, 32, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    out = scaled_dot_product(q, k, v)
    out.backward(grad)
    exact = [t.detach().double().requires_grad_() for t in (q, k, v)]
    expected = float64_attention(*exact)
    expected.backward(grad.double())
    # bf16 rounding of the output only (2^-8 relative)
    assert (out.double() - expected).abs().max() <= 2**-8 * expected.abs().max()
    for ours, theirs in zip((q.grad, k.grad, v.grad), (t.grad for t in exact), strict=True):
        assert ours.dtype == torch.bfloat16
        assert (ours.double() - theirs).norm() <= 2**-7 * theirs.norm()


def test_gradients_are_no_worse_than_the_bf16_kernels(monkeypatch):
    q, k, v = qkv(4, 2, 24, 32, seed=3)
    grad = torch.randn(4, 2, 24, 32, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    exact = [t.detach().double().requires_grad_() for t in (q, k, v)]
    float64_attention(*exact).backward(grad.double())

    def gradient_errors():
        for t in (q, k, v):
            t.grad = None
        scaled_dot_product(q, k, v).backward(grad)
        return [
            ((t.grad.double() - e.grad).norm() / e.grad.norm()).item() for t, e in zip((q, k, v), exact, strict=True)
        ]

    ours = gradient_errors()
    monkeypatch.setattr(sdpa, "CPU_FLOAT32_ATTENTION_MAX_VALUES", 0)  # bf16's kernel at every length
    kernels = gradient_errors()
    assert all(a <= b * 1.05 for a, b in zip(ours, kernels, strict=True)), (ours, kernels)


def test_hidden_keys_mask_hides_tokens_from_the_others_only():
    hidden = torch.tensor([[False, True, False, True]])
    allowed = hidden_keys_mask(hidden)[0, 0]  # (query, key)
    expected = torch.tensor(
        [
            [True, False, True, False],  # a visible token: the visible ones only
            [True, True, True, True],  # a hidden token: all of them
            [True, False, True, False],
            [True, True, True, True],
        ]
    )
    assert torch.equal(allowed, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_masked_attention_matches_float64(dtype):
    q, k, v = qkv(2, 2, 10, 16, dtype=dtype, seed=7)
    hidden = torch.rand(2, 10, generator=torch.Generator().manual_seed(8)) < 0.5
    mask = hidden_keys_mask(hidden)
    out = scaled_dot_product(q, k, v, mask)
    q64, k64, v64 = q.double(), k.double(), v.double()
    logits = (q64 @ k64.transpose(-1, -2) / math.sqrt(16)).masked_fill(~mask, float("-inf"))
    expected = torch.softmax(logits, dim=-1) @ v64
    tolerance = 2**-8 if dtype == torch.bfloat16 else 1e-6
    assert (out.double() - expected).abs().max() <= tolerance * expected.abs().max()
