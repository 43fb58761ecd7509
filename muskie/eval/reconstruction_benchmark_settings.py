"""The reconstruction benchmarks' settings (``muskie.eval.reconstruction_benchmarks``): each one's dataset
format and keyframe stride. Free of torch, so that ``muskie recon eval --help`` lists them without importing
the evaluation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReconBenchmark:
    """One benchmark setting: a dataset in its authors' layout and the keyframe stride."""

    name: str
    dataset_format: str
    stride: int
    scenes: str
    source: str

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
    )
}


def get_benchmark(name: str) -> ReconBenchmark:
    """The benchmark called ``name``; a ValueError lists the known names."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown reconstruction benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
