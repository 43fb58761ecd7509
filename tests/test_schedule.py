import math

import pytest

from muskie.train.schedule import learning_rate


def test_warmup_is_linear_and_reaches_base_lr():
    lrs = [learning_rate(s, 1.0, warmup_steps=4, total_steps=10) for s in range(4)]
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_half_cosine_after_warmup():
    base, warmup, total = 2e-4, 10, 110
    assert learning_rate(warmup, base, warmup, total) == pytest.approx(base)
    midpoint = warmup + (total - warmup) // 2
    assert learning_rate(midpoint, base, warmup, total) == pytest.approx(base / 2)
    assert learning_rate(total, base, warmup, total) == pytest.approx(0.0, abs=1e-15)
    assert learning_rate(total + 5, base, warmup, total, min_lr=1e-6) == pytest.approx(1e-6)
    step = warmup + 25
    expected = 0.5 * base * (1 + math.cos(math.pi * 25 / 100))
    assert learning_rate(step, base, warmup, total) == pytest.approx(expected)


def test_monotone_decay_and_no_warmup():
    lrs = [learning_rate(s, 1.0, 0, 50) for s in range(51)]
    assert lrs[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_rejects_empty_schedule():
    with pytest.raises(ValueError, match="total_steps"):
        learning_rate(0, 1.0, 0, 0)
