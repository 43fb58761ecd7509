"""A run's length stated in epochs, turned into the optimiser steps the engine counts.

An epoch is a number of samples (scenes of ``V`` views), not a pass over some list: the engine's batch
sampler draws samples endlessly, so "60 epochs of 45,000 samples" is ``60 * 45,000`` samples, however many
processes and micro-batches share each optimiser step.
"""

from __future__ import annotations

import math
from fractions import Fraction


def steps_for_epochs(epochs: float, samples_per_epoch: int, samples_per_step: int) -> int:
    """The optimiser steps that take at least ``epochs * samples_per_epoch`` samples at ``samples_per_step``
    samples a step (batch size x accumulated micro-batches x processes): the ceiling of their ratio, computed
    exactly (``epochs`` as the decimal it prints as, so 0.1 epoch of 10 samples is 1 sample, not 2).

    Raises ValueError for a negative or non-finite ``epochs`` or counts below 1.
    """
    if not (math.isfinite(epochs) and epochs >= 0):
        raise ValueError(f"epochs must be finite and >= 0, got {epochs}")
    if samples_per_epoch < 1 or samples_per_step < 1:
        raise ValueError(f"samples per epoch and per step must be >= 1, got {samples_per_epoch}, {samples_per_step}")
    return math.ceil(Fraction(repr(float(epochs))) * samples_per_epoch / samples_per_step)
