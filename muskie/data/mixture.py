"""A weighted mixture of multi-view datasets, indexed like one (``ViewRequest``).

The paper pre-trains on nine datasets at once. A request's seed picks the dataset, in proportion to the
weights, then a scene of it uniformly, so every dataset contributes its share of samples whatever its number
of scenes, and a sample still depends on its request alone (deterministic, resumable). The request's
``index`` is not used to choose: a batch sampler's shuffled indices only set how many samples an epoch has.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from muskie.data.views import ViewRequest, mix_seeds

# salt of the generator that picks the dataset and scene, so that choice is independent of the sample's own
# random choices (views, crops), which use the request's seed
_PICK_SALT = 0x6D6978


class MixtureDataset(Dataset):
    """Samples of ``datasets[d]`` (each indexed by ``ViewRequest``) drawn with probability
    ``weights[d] / sum(weights)``.

    A request ``(index, V, H, W, seed)`` becomes request ``(scene, V, H, W, seed')`` of the chosen dataset,
    ``scene`` uniform over its scenes and ``seed'`` derived from ``seed``; the sample is that dataset's.
    ``len`` is the total number of scenes (an epoch of a batch sampler visits as many samples).

    Args:
        datasets: the parts, each with ``len`` and ``__getitem__(ViewRequest)``.
        weights: one positive weight per part.
        names: a label per part (for :meth:`describe`).
    """

    def __init__(self, datasets: Sequence[Dataset], weights: Sequence[float], names: Sequence[str] = ()):
        if not datasets or len(weights) != len(datasets):
            raise ValueError(
                f"a mixture needs one weight per dataset, got {len(datasets)} dataset(s) and {len(weights)} weight(s)"
            )
        if not all(w > 0 for w in weights):
            raise ValueError(f"mixture weights must be > 0, got {list(weights)}")
        if not all(len(d) > 0 for d in datasets):
            raise ValueError("every dataset of a mixture needs at least one scene")
        self.datasets = list(datasets)
        self.weights = torch.tensor([float(w) for w in weights], dtype=torch.float64)
        self.names = list(names) or [str(i) for i in range(len(datasets))]

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def locate(self, request: ViewRequest) -> tuple[int, ViewRequest]:
        """``(dataset index, that dataset's request)`` for ``request``: a function of its seed only."""
        generator = torch.Generator().manual_seed(mix_seeds(request.seed, _PICK_SALT))
        part = int(torch.multinomial(self.weights, 1, generator=generator))
        scene = int(torch.randint(0, len(self.datasets[part]), (), generator=generator))
        return part, request._replace(index=scene, seed=mix_seeds(request.seed, part))

    def __getitem__(self, request: ViewRequest) -> dict:
        if not isinstance(request, ViewRequest):
            raise TypeError(f"MixtureDataset is indexed by ViewRequest, got {type(request).__name__}")
        part, inner = self.locate(request)
        return self.datasets[part][inner]

    def describe(self) -> list[tuple[str, int, float]]:
        """``(name, scenes, share of samples)`` per part."""
        shares = (self.weights / self.weights.sum()).tolist()
        return [(name, len(d), share) for name, d, share in zip(self.names, self.datasets, shares, strict=True)]
