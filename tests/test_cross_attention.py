"""Cross-attention layer: matches a plain float64 computation, RoPE on both sides, per-sequence tables."""

import math

import torch

from muskie.model.layers.cross_attention import CrossAttention
from muskie.model.layers.rope import apply_rope, rope_tables, token_positions


def make_layer(seed=0):
    torch.manual_seed(seed)
    layer = CrossAttention(dim=32, num_heads=4)
    for param in layer.parameters():
        torch.nn.init.normal_(param, std=0.2)
    return layer.double()


def reference(layer, x, context, cos, sin, context_cos, context_sin):
    """float64, head by head: queries from x rotated by their positions, keys and values from the context,
    keys rotated by the context's positions, explicit softmax."""
    q = x @ layer.q.weight.T + layer.q.bias
    k, v = (context @ layer.kv.weight.T + layer.kv.bias).chunk(2, dim=-1)
    d = layer.head_dim
    outs = []
    for h in range(layer.num_heads):
        sl = slice(h * d, (h + 1) * d)
        qh, kh = apply_rope(q[..., sl], cos, sin), apply_rope(k[..., sl], context_cos, context_sin)
        outs.append(torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(d), dim=-1) @ v[..., sl])
    return torch.cat(outs, -1) @ layer.proj.weight.T + layer.proj.bias


def test_matches_a_float64_reference():
    layer = make_layer()
    cos, sin = rope_tables(token_positions(3, 4, num_registers=2), layer.head_dim, 100.0, dtype=torch.float64)
    context_cos, context_sin = cos[2:], sin[2:]  # the context's patches only, no registers
    x, context = torch.randn(2, 14, 32, dtype=torch.float64), torch.randn(2, 12, 32, dtype=torch.float64)
    out = layer(x, context, cos, sin, context_cos, context_sin)
    assert out.shape == (2, 14, 32)
    torch.testing.assert_close(
        out, reference(layer, x, context, cos, sin, context_cos, context_sin), rtol=1e-12, atol=1e-12
    )


def test_scores_depend_on_the_offset_between_query_and_key_positions():
    layer = make_layer(1)
    positions = token_positions(3, 3, num_registers=0)
    x, context = torch.randn(1, 9, 32, dtype=torch.float64), torch.randn(1, 9, 32, dtype=torch.float64)
    cos, sin = rope_tables(positions, layer.head_dim, 100.0, dtype=torch.float64)
    shifted_cos, shifted_sin = rope_tables(positions + 5, layer.head_dim, 100.0, dtype=torch.float64)
    same = layer(x, context, cos, sin, cos, sin)
    torch.testing.assert_close(
        layer(x, context, shifted_cos, shifted_sin, shifted_cos, shifted_sin), same, rtol=1e-10, atol=1e-10
    )
    assert not torch.allclose(layer(x, context, cos, sin, shifted_cos, shifted_sin), same, atol=1e-3)


def test_per_sequence_tables_equal_running_each_sequence_alone():
    layer = make_layer(2)
    cos, sin = rope_tables(token_positions(2, 3, num_registers=1), layer.head_dim, 100.0, dtype=torch.float64)
    rows = torch.tensor([[0, 1, 3, 6], [0, 2, 4, 5]])  # two sequences with different subsets of positions
    x, context = torch.randn(2, 4, 32, dtype=torch.float64), torch.randn(2, 6, 32, dtype=torch.float64)
    both = layer(x, context, cos[rows], sin[rows], cos[1:], sin[1:])
    for i in range(2):
        alone = layer(x[i : i + 1], context[i : i + 1], cos[rows[i]], sin[rows[i]], cos[1:], sin[1:])
        torch.testing.assert_close(both[i : i + 1], alone, rtol=1e-12, atol=1e-12)
