"""``ProbeConfig``: every setting of a frozen-feature probe run (``muskie.eval.probes``), free of torch so that
``muskie eval probe --help`` shows its defaults without importing the probes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from muskie.config_io import check_fields

TASKS = ("depth", "normals")
HEADS = ("conv", "linear")


@dataclass(frozen=True)
class ProbeConfig:
    """Every setting of a probe run (all of them go into the report's JSON).

    Attributes:
        tasks: any of ``depth`` and ``normals``.
        num_samples: training samples (synthetic ``train`` split); num_test_samples: scored samples
            (``test`` split), None for as many as ``num_samples``.
        num_views: views per sample; size: ``(H, W)`` of the images (multiples of each Muskie backbone's
            patch size); synthetic_path: the camera path of the synthetic scenes, or ``synthetic_mix`` a
            mixture of synthetic scene kinds (``muskie.data.datasets.open_view_dataset``).
        blocks: the backbone blocks whose features are concatenated (negative counts from the end).
        head: ``conv`` (1x1 conv, GELU, 3x3 conv) or ``linear`` (1x1 conv); hidden: width of the conv head.
        steps: optimiser steps; batch_size: training views per step; lr, weight_decay: AdamW's;
            warmup_steps: linear warm-up before the cosine decay.
        si_lambda: the ``lambda`` of the scale-invariant depth loss (1: fully scale-invariant).
        extract_batch: samples per backbone forward pass when extracting features.
        seed: seeds the samples, the probe's initialisation and its batch order.
    """

    tasks: tuple[str, ...] = TASKS
    num_samples: int = 32
    num_test_samples: int | None = None
    num_views: int = 4
    size: tuple[int, int] = (64, 64)
    synthetic_path: str = "rig"
    synthetic_mix: tuple[dict, ...] = ()
    blocks: tuple[int, ...] = (-1,)
    head: str = "conv"
    hidden: int = 128
    steps: int = 500
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 25
    si_lambda: float = 0.85
    extract_batch: int = 8
    seed: int = 0

    def __post_init__(self):
        check_fields(self, "ProbeConfig")  # integers are integers, numbers finite
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must be distinct entries of {TASKS}, got {self.tasks}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.num_samples < 1 or (self.num_test_samples is not None and self.num_test_samples < 1):
            raise ValueError("num_samples and num_test_samples must be >= 1")
        if self.num_views < 1 or min(self.size) < 1 or not self.blocks:
            raise ValueError("num_views and the image size must be >= 1, and blocks non-empty")
        if self.steps < 1 or self.batch_size < 1 or self.hidden < 1 or self.extract_batch < 1:
            raise ValueError("steps, batch_size, hidden and extract_batch must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_steps < 0 or not 0 <= self.si_lambda <= 1:
            raise ValueError("lr must be > 0, weight_decay and warmup_steps >= 0, si_lambda in [0, 1]")

    @property
    def test_samples(self) -> int:
        return self.num_samples if self.num_test_samples is None else self.num_test_samples

    def to_dict(self) -> dict:
        """JSON-ready settings (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
