"""Learning-rate schedule: linear warm-up, then half-cosine to a floor, evaluated per optimiser step."""

from __future__ import annotations

import math


def learning_rate(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Learning rate for optimiser step ``step`` (0-based).

    Rises linearly from ``base_lr / warmup_steps`` at step 0 to ``base_lr`` at step ``warmup_steps - 1``,
    then follows half a cosine from ``base_lr`` down to ``min_lr`` at step ``total_steps``.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
