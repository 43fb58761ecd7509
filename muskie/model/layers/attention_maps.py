"""Head-averaged attention probabilities, computed a block of queries at a time.

The full map of ``S`` tokens has ``S^2`` entries per head; at 8 views of 512x512 (``S`` about 8200) one
head's scores alone take 270 MB in float32. These functions never hold more than :data:`CHUNK_ELEMENTS`
scores at once: each block of queries gets its log-probabilities over every key (scores minus their
log-sum-exp), and only the head average of the entries asked for is kept. :func:`attention_rows` keeps every
entry (the full map, or the rows of a few queries); :func:`token_attention` keeps the rows and the columns
of one range of tokens (a view's), what the attention readouts need, ``2 * Ts * S`` entries instead of
``S^2``. Both use the layer's softmax scale ``1 / sqrt(head_dim)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

# scores (heads x queries x keys, summed over the batch) held at once: 64 MiB in float32
CHUNK_ELEMENTS = 2**24


def _log_probabilities(q: torch.Tensor, k: torch.Tensor) -> Iterator[tuple[slice, torch.Tensor]]:
    """``(queries, log_p)`` for consecutive blocks of the queries of ``q (N, h, Sq, d)`` against the keys of
    ``k (N, h, Sk, d)``: ``queries`` a slice of ``Sq``, ``log_p (N, h, len(queries), Sk)`` the log-softmax of
    their scaled scores over every key."""
    n, heads, num_queries, head_dim = q.shape
    size = max(1, CHUNK_ELEMENTS // (n * heads * k.shape[2]))
    keys = k.transpose(-2, -1) * head_dim**-0.5
    for start in range(0, num_queries, size):
        queries = slice(start, min(start + size, num_queries))
        scores = q[:, :, queries] @ keys
        yield queries, scores - scores.logsumexp(dim=-1, keepdim=True)


def attention_rows(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The head-averaged attention ``(N, Sq, Sk)`` of the queries ``q (N, h, Sq, d)`` over the keys
    ``k (N, h, Sk, d)`` (rows sum to 1): the full map when ``q`` holds every query, the rows of some queries
    when it holds theirs."""
    n, _, num_queries, _ = q.shape
    out = q.new_empty(n, num_queries, k.shape[2])
    for queries, log_p in _log_probabilities(q, k):
        out[:, queries] = log_p.exp().mean(dim=1)
    return out


def token_attention(q: torch.Tensor, k: torch.Tensor, tokens: slice) -> torch.Tensor:
    """The rows and columns of ``tokens`` (a slice of the ``S`` tokens with step 1, ``Ts`` long) in the
    head-averaged attention of the queries ``q (N, h, S, d)`` over the keys ``k (N, h, S, d)``, without the
    rest, in one pass over the queries.

    Returns ``(N, 2, Ts, S)``: ``[:, 0, i, j]`` is what query ``tokens[i]`` gives key ``j`` (its row of the
    full map ``A``), ``[:, 1, i, j]`` what query ``j`` gives key ``tokens[i]`` (a column of ``A``, transposed):
    ``A[:, tokens]`` and ``A[:, :, tokens].transpose(1, 2)``.
    """
    n, _, num_tokens, _ = q.shape
    first, last, step = tokens.indices(num_tokens)
    if step != 1 or first >= last:
        raise ValueError(f"tokens must be a non-empty slice with step 1 of the {num_tokens} tokens, got {tokens}")
    out = q.new_empty(n, 2, last - first, num_tokens)
    for queries, log_p in _log_probabilities(q, k):
        out[:, 1, :, queries] = log_p[..., first:last].exp().mean(dim=1).transpose(1, 2)
        start, stop = max(queries.start, first), min(queries.stop, last)  # the chunk's queries among tokens
        if start < stop:
            rows = log_p[:, :, start - queries.start : stop - queries.start]
            out[:, 0, start - first : stop - first] = rows.exp().mean(dim=1)
    return out
