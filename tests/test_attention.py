"""Attention layer: the output does not depend on what is asked of the attention maps, and output and maps
match a float64 computation."""

import math

import torch

from muskie.model.layers.attention import Attention
from muskie.model.layers.rope import apply_rope, rope_tables, token_positions


def make_layer(seed=0):
    torch.manual_seed(seed)
    layer = Attention(dim=32, num_heads=4)
    for param in layer.parameters():
        torch.nn.init.normal_(param, std=0.2)
    return layer


def reference(layer, x, cos, sin):
    """float64: per-head scaled dot product with an explicit softmax; returns output and mean probs."""
    x, cos, sin = x.double(), cos.double(), sin.double()
    w_qkv, b_qkv = layer.qkv.weight.double(), layer.qkv.bias.double()
    q, k, v = (x @ w_qkv.T + b_qkv).chunk(3, dim=-1)
    heads, d = layer.num_heads, layer.head_dim
    outs, probs = [], []
    for h in range(heads):
        sl = slice(h * d, (h + 1) * d)
        qh, kh = apply_rope(q[..., sl], cos, sin), apply_rope(k[..., sl], cos, sin)
        p = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(d), dim=-1)
        outs.append(p @ v[..., sl])
        probs.append(p)
    out = torch.cat(outs, -1) @ layer.proj.weight.double().T + layer.proj.bias.double()
    return out, torch.stack(probs).mean(0)


def test_output_and_maps_match_float64_reference():
    layer = make_layer()
    positions = token_positions(3, 4, num_registers=2)
    cos, sin = rope_tables(positions, layer.head_dim, 100.0)
    x = torch.randn(2, positions.shape[0], 32)
    plain, none = layer(x, cos, sin)
    with_maps, probs = layer(x, cos, sin, return_attention=True)
    with_source, kept = layer(x, cos, sin, return_attention=True, source=slice(2, 8))
    expected_out, expected_probs = reference(layer, x, cos, sin)
    assert none is None
    assert probs.shape == (2, 14, 14) and kept.shape == (2, 2, 6, 14)
    assert torch.equal(plain, with_maps) and torch.equal(plain, with_source)  # the maps change no output
    torch.testing.assert_close(plain.double(), expected_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(probs.double(), expected_probs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 14))
    torch.testing.assert_close(kept[:, 0].double(), expected_probs[:, 2:8], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(kept[:, 1].double(), expected_probs[:, :, 2:8].transpose(1, 2), rtol=1e-5, atol=1e-6)


def test_asking_for_maps_changes_no_gradient_of_the_output():
    layer = make_layer(1)
    cos, sin = rope_tables(token_positions(2, 2, 1), layer.head_dim, 100.0)
    x = torch.randn(1, 5, 32)
    grads = []
    for maps in (False, True):
        layer.zero_grad()
        layer(x, cos, sin, return_attention=maps)[0].square().sum().backward()
        grads.append(layer.qkv.weight.grad.clone())
    assert torch.equal(grads[0], grads[1])


def test_queries_and_keys_rotated_together_give_exactly_the_one_by_one_numbers():
    """``rope_together`` (the default) against the reference path: the same outputs, attention maps and
    gradients, bit for bit, with shared and per-sequence tables."""
    layer = make_layer(2)
    positions = token_positions(3, 3, num_registers=2)
    shared = rope_tables(positions, layer.head_dim, 100.0)
    per_sequence = rope_tables(torch.stack([positions, positions + 2]), layer.head_dim, 100.0)
    x = torch.randn(2, positions.shape[0], 32)
    for cos, sin in (shared, per_sequence):
        for explicit in (False, True):
            results = []
            for together in (True, False):
                layer.rope_together = together
                layer.zero_grad()
                out, attention = layer(x, cos, sin, return_attention=explicit)
                out.square().sum().backward()
                results.append((out, attention, [p.grad.clone() for p in layer.parameters()]))
            (out_a, att_a, grads_a), (out_b, att_b, grads_b) = results
            assert torch.equal(out_a, out_b)
            assert (att_a is None and att_b is None) or torch.equal(att_a, att_b)
            assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b, strict=True))
