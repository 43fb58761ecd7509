"""muskie.data.mixture: datasets drawn in proportion to their weights, a sample a function of its request."""

import pytest

from muskie.data.mixture import MixtureDataset
from muskie.data.views import ViewRequest


class Labelled:
    """A stand-in dataset of ``size`` scenes whose sample names the dataset, scene and seed."""

    def __init__(self, label: str, size: int):
        self.label, self.size = label, size

    def __len__(self):
        return self.size

    def __getitem__(self, request):
        return (self.label, request.index, request.seed)


def test_datasets_are_drawn_by_weight_then_scene():
    mixture = MixtureDataset([Labelled("a", 2), Labelled("b", 50)], weights=[3, 1])
    assert len(mixture) == 52
    draws = [mixture[ViewRequest(0, 2, 8, 8, seed)] for seed in range(2000)]
    share_a = sum(label == "a" for label, _, _ in draws) / len(draws)
    assert 0.72 < share_a < 0.78  # 3 / (3 + 1), whatever the numbers of scenes
    assert {scene for label, scene, _ in draws if label == "a"} == {0, 1}
    assert len({scene for label, scene, _ in draws if label == "b"}) > 40
    assert [name for name, _, _ in mixture.describe()] == ["0", "1"]


def test_a_sample_depends_on_its_seed_only():
    mixture = MixtureDataset([Labelled("a", 5), Labelled("b", 5)], weights=[1, 1])
    assert mixture[ViewRequest(0, 2, 8, 8, 7)] == mixture[ViewRequest(3, 2, 8, 8, 7)]
    assert len({mixture[ViewRequest(0, 2, 8, 8, s)] for s in range(20)}) == 20


def test_bad_mixtures_are_refused():
    with pytest.raises(ValueError, match="one weight per dataset"):
        MixtureDataset([Labelled("a", 1)], weights=[1, 2])
    with pytest.raises(ValueError, match="must be > 0"):
        MixtureDataset([Labelled("a", 1)], weights=[0])
