"""The reconstruction benchmarks' settings (``muskie.eval.reconstruction_benchmarks``): each one's dataset
format and keyframe stride. Free of torch, so that ``muskie recon eval --help`` lists them without importing
the evaluation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReconBenchmark:
    """One benchmark setting: a dataset in its authors' layout and how views are chosen.

    Either ``stride`` (keyframes every ``stride`` frames, one sample per sequence, every keyframe a view) or
    ``window`` (``samples`` seeded samples of ``views`` frames each, the sequences taken in turn: an anchor
    frame drawn uniformly, the other views drawn without replacement among the frames within ``window``
    positions of it, the authors' release's test sets).
    """

    name: str
    dataset_format: str
    stride: int | None
    scenes: str
    source: str
    window: int | None = None
    samples: int = 0
    views: int = 0

    @property
    def title(self) -> str:
        from muskie.data.formats import FORMATS

        return FORMATS[self.dataset_format].title


_SEVEN = "the sequences of each scene's TestSplit.txt"
_NRGBD = "every scene folder"
BENCHMARKS = {
    b.name: b
    for b in (
        ReconBenchmark("7scenes-sparse", "7scenes", 200, _SEVEN, "CUT3R eval/mv_recon (kf_every=200); pi3's sparse"),
        ReconBenchmark("7scenes-dense", "7scenes", 40, _SEVEN, "pi3 configs/data/mv_recon.yaml (kf_every=40)"),
        ReconBenchmark("nrgbd-sparse", "nrgbd", 500, _NRGBD, "CUT3R eval/mv_recon (kf_every=500); pi3's sparse"),
        ReconBenchmark("nrgbd-dense", "nrgbd", 100, _NRGBD, "pi3 configs/data/mv_recon.yaml (kf_every=100)"),
        # leo-frank/Muskie config/ffrecon.yaml (test: len_test 50) and downstreams/datasets: an anchor and 7
        # frames drawn within 8 x 8 = 64 (7-Scenes) or 8 x 16 = 128 (NRGBD) positions of it, at 224x224
        ReconBenchmark(
            "7scenes-release",
            "7scenes",
            None,
            "every sequence of the root (the release lists every seq-XX folder, training sequences included)",
            "the authors' release: config/ffrecon.yaml test set, downstreams/datasets/seven_scenes.py",
            window=64,
            samples=50,
            views=8,
        ),
        ReconBenchmark(
            "nrgbd-release",
            "nrgbd",
            None,
            _NRGBD,
            "the authors' release: config/ffrecon.yaml test set, downstreams/datasets/nrgbd.py",
            window=128,
            samples=50,
            views=8,
        ),
    )
}


def get_benchmark(name: str) -> ReconBenchmark:
    """The benchmark called ``name``; a ValueError lists the known names."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown reconstruction benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
