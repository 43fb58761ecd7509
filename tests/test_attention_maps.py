"""Attention maps a block of queries at a time: the full map and one token range's rows and columns against a
float64 softmax over every head's full score matrix, with blocks that straddle the token range."""

import pytest
import torch

from muskie.model.layers import attention_maps
from muskie.model.layers.attention_maps import _log_probabilities, attention_rows, token_attention


def queries_keys(n=2, heads=3, tokens=23, head_dim=8, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(n, heads, tokens, head_dim, generator=generator, dtype=dtype) * 2 for _ in range(2))
    return q, k


def reference(q, k):
    """The head-averaged softmax of every head's full ``(S, S)`` scores, float64."""
    scores = q.double() @ k.double().transpose(-2, -1) / q.shape[-1] ** 0.5
    return scores.softmax(dim=-1).mean(dim=1)


@pytest.mark.parametrize("chunk_elements", [1, 3 * 2 * 23 * 5, 2**24])  # one query, 5 queries, all at once
def test_full_map_matches_the_float64_softmax(monkeypatch, chunk_elements):
    monkeypatch.setattr(attention_maps, "CHUNK_ELEMENTS", chunk_elements)
    q, k = queries_keys()
    full = attention_rows(q, k)
    torch.testing.assert_close(full, reference(q, k), rtol=0, atol=1e-12)
    torch.testing.assert_close(full.sum(-1), torch.ones(2, 23, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_elements", [1, 3 * 2 * 23 * 4, 2**24])
@pytest.mark.parametrize("tokens", [slice(0, 7), slice(7, 14), slice(16, 23), slice(0, 23), slice(5, 6)])
def test_token_rows_and_columns_are_those_of_the_full_map(monkeypatch, chunk_elements, tokens):
    monkeypatch.setattr(attention_maps, "CHUNK_ELEMENTS", chunk_elements)
    q, k = queries_keys()
    expected = reference(q, k)
    kept = token_attention(q, k, tokens)
    assert kept.shape == (2, 2, tokens.stop - tokens.start, 23)
    torch.testing.assert_close(kept[:, 0], expected[:, tokens], rtol=0, atol=1e-12)
    torch.testing.assert_close(kept[:, 1], expected[:, :, tokens].transpose(1, 2), rtol=0, atol=1e-12)


def test_token_attention_takes_the_full_maps_numbers_exactly_in_float32(monkeypatch):
    """The same blocks of queries, the same operations: rows and columns are the full map's, bit for bit."""
    monkeypatch.setattr(attention_maps, "CHUNK_ELEMENTS", 3 * 2 * 23 * 4)
    q, k = queries_keys(dtype=torch.float32)
    full = attention_rows(q, k)
    kept = token_attention(q, k, slice(6, 13))
    assert torch.equal(kept[:, 0], full[:, 6:13])
    assert torch.equal(kept[:, 1], full[:, :, 6:13].transpose(1, 2))


def test_rectangular_rows_cover_other_keys():
    q, k = queries_keys(tokens=23)
    torch.testing.assert_close(attention_rows(q[:, :, 3:9], k), reference(q, k)[:, 3:9], rtol=0, atol=1e-12)


def test_no_block_of_queries_holds_more_scores_than_the_budget(monkeypatch):
    monkeypatch.setattr(attention_maps, "CHUNK_ELEMENTS", 1000)
    q, k = queries_keys(n=2, heads=3, tokens=23)  # 138 scores per query: 7 queries per block
    blocks = [(queries, log_p.shape) for queries, log_p in _log_probabilities(q, k)]
    assert [queries.start for queries, _ in blocks] == [0, 7, 14, 21]
    assert all(shape[2] * 2 * 3 * 23 <= 1000 for _, shape in blocks)
    assert blocks[-1][1] == (2, 3, 2, 23)


def test_token_attention_refuses_an_empty_or_strided_range():
    q, k = queries_keys()
    for tokens in (slice(4, 4), slice(0, 10, 2)):
        with pytest.raises(ValueError, match="non-empty slice with step 1"):
            token_attention(q, k, tokens)


def test_gradients_reach_queries_and_keys():
    q, k = (t.requires_grad_() for t in queries_keys(tokens=9))
    token_attention(q, k, slice(3, 6)).square().sum().backward()
    q64, k64 = (t.detach().clone().requires_grad_() for t in (q, k))
    full = reference(q64, k64)
    (full[:, 3:6].square().sum() + full[:, :, 3:6].square().sum()).backward()
    torch.testing.assert_close(q.grad, q64.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(k.grad, k64.grad, rtol=0, atol=1e-12)
