"""The one place that turns a scene-source name into a multi-view dataset, and the one rule that turns a
dataset into evaluation samples.

A source is ``"synthetic"`` (procedural scenes of one split, rendered on the fly) or a path that
:func:`muskie.data.sources.load_scenes` reads (a scene folder, a folder of scene folders, a manifest).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from torch.utils.data import Dataset

from muskie.config_io import ConfigError, from_dict

from muskie.data.batch import ViewBatch, collate_views
from muskie.data.sources import load_scenes
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import MultiViewDataset, ViewRequest

SYNTHETIC = "synthetic"


def open_view_dataset(
    source: str,
    *,
    split: str = "train",
    synthetic_path: str = "rig",
    synthetic_scenes: int = 1000,
    window: int | None = None,
    crop_scale: tuple[float, float] = (0.8, 1.0),
    skip_bad: bool = True,
    require: tuple[str, ...] = (),
    synthetic_mix: list[dict] = (),
) -> Dataset:
    """A dataset indexed by ``ViewRequest`` whose samples are the dicts of ``muskie.data.batch``.

    Args:
        source: ``"synthetic"`` or a path (see the module docstring). An empty string is refused.
        split: the synthetic split (``train``, ``val`` or ``test``); ignored for paths.
        synthetic_path: camera path of synthetic scenes (``rig``, ``orbit``, ``walk``, ``forward``).
        synthetic_scenes: how many scenes of the split.
        window: frames a sample's views are drawn from (synthetic: the path's length); None: the default.
        crop_scale: area fraction of the random resized crop of scenes on disk (``(1, 1)``: full frames).
        skip_bad: replace unreadable samples of scenes on disk instead of raising.
        require: ``"cameras"`` and/or ``"depth"``: every scene on disk must have them, else a ValueError
            names the source and the scenes lacking them. Synthetic scenes have both.
        synthetic_mix: a mixture of synthetic scene kinds: each entry overrides fields of the synthetic
            config (``camera_path``, ``overlap``, ``principal_shift``, ``zoom``, ...; see
            ``muskie.data.synthetic.SyntheticConfig``), and scene ``i`` is of kind ``i mod len(mix)``.
            Empty: one kind, ``synthetic_path``.
    """
    if not source:
        raise ValueError("the scene source is empty: give 'synthetic' or a path")
    if source == SYNTHETIC:
        return SyntheticViewDataset(split=split, config=synthetic_configs(synthetic_path, window, synthetic_mix),
                                    num_scenes=synthetic_scenes)
    scenes = load_scenes(source)
    checks = {"cameras": lambda s: s.has_cameras, "depth": lambda s: s.has_depth}
    unknown = sorted(set(require) - set(checks))
    if unknown:
        raise ValueError(f"require: unknown requirement(s) {unknown}; choose from {sorted(checks)}")
    lacking = [s.name for s in scenes if not all(checks[need](s) for need in require)]
    if lacking:
        raise ValueError(f"{source}: every scene needs {' and '.join(require)}; scenes without them: "
                         f"{', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}")
    return MultiViewDataset(scenes, window=32 if window is None else window, crop_scale=tuple(crop_scale),
                            skip_bad=skip_bad)


@dataclass
class SceneSourceConfig:
    """Where a training task's scenes come from and how they are loaded (each task's ``data`` config adds
    how views are drawn from them).

    ``source``: ``"synthetic"`` or a path (see the module docstring); ``val_source``: held-out scenes for the
    validation loss (None: the synthetic ``val`` split when ``source`` is synthetic); ``synthetic_path`` and
    ``synthetic_scenes``: the synthetic camera path and the number of training scenes; ``synthetic_mix``: a
    mixture of synthetic scene kinds instead of one path (see :func:`open_view_dataset`); ``window``: the
    frames a sample's views are drawn from; ``batch_size`` scenes per batch; ``workers`` loader processes;
    ``crop_scale``: the area fraction of the random resized crop.
    """

    source: str = SYNTHETIC
    val_source: str | None = None
    synthetic_path: str = "rig"
    synthetic_scenes: int = 100_000
    synthetic_mix: list[dict] = field(default_factory=list)
    window: int = 32
    batch_size: int = 4
    workers: int = 4
    crop_scale: tuple[float, float] = (0.8, 1.0)

    @property
    def has_validation(self) -> bool:
        """Held-out scenes exist: ``val_source`` is set or the source is synthetic (its ``val`` split)."""
        return bool(self.val_source) or self.source == SYNTHETIC

    def open(self, split: str = "train", require: tuple[str, ...] = (), num_scenes: int | None = None) -> Dataset:
        """The training scenes (``split="train"``, random crops) or the held-out ones (``"val"``: ``val_source``
        or the synthetic ``val`` split, full frames); ``num_scenes`` synthetic scenes (default
        ``synthetic_scenes``). ``require``: see :func:`open_view_dataset`. Training replaces bad samples;
        held-out scenes do not (a validation scores the samples it names, or fails naming the bad one)."""
        training = split == "train"
        return open_view_dataset(self.source if training else (self.val_source or self.source), split=split,
                                 synthetic_path=self.synthetic_path,
                                 synthetic_scenes=num_scenes or self.synthetic_scenes, window=self.window,
                                 crop_scale=tuple(self.crop_scale) if training else (1.0, 1.0), require=require,
                                 synthetic_mix=self.synthetic_mix, skip_bad=training)

    def validate(self, needs_validation: bool = False) -> None:
        """Raise ConfigError (naming the ``data.`` key) for values types alone do not catch."""
        if not self.source:
            raise ConfigError("data.source is empty: give 'synthetic' or a path")
        if self.batch_size < 1 or self.workers < 0:
            raise ConfigError("data.batch_size must be >= 1 and data.workers >= 0")
        if self.window < 1:
            raise ConfigError(f"data.window must be >= 1, got {self.window}")
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ConfigError(f"data.crop_scale must satisfy 0 < low <= high <= 1, got {list(self.crop_scale)}")
        if self.source == SYNTHETIC:
            synthetic_configs(self.synthetic_path, self.window, self.synthetic_mix)
        if needs_validation and not self.has_validation:
            raise ConfigError("val_every needs held-out scenes: set data.val_source (scenes on disk have no "
                              "automatic validation split)")


def synthetic_configs(synthetic_path: str = "rig", window: int | None = None,
                      mix: list[dict] = ()) -> list[SyntheticConfig]:
    """The synthetic configs of a source: one per mixture entry (each entry's fields over the defaults
    ``camera_path = synthetic_path``, ``num_frames = window``), or the single default. Raises ConfigError
    naming the entry for an unknown field or a bad value."""
    base = {"camera_path": synthetic_path, **({} if window is None else {"num_frames": window})}
    configs = []
    for index, entry in enumerate(mix or [{}]):
        where = f"data.synthetic_mix[{index}]"
        try:
            configs.append(from_dict(SyntheticConfig, {**base, **entry}, where))
        except ConfigError:
            raise
        except ValueError as err:  # a value SyntheticConfig itself refuses
            raise ConfigError(f"{where}: {err}") from None
    return configs


def evaluation_requests(dataset: Dataset, num_samples: int, num_views: int, size: tuple[int, int],
                        seed: int = 0) -> list[ViewRequest]:
    """The requests of an evaluation: sample ``k`` takes scene ``k mod len(dataset)`` with seed ``seed + k``
    (more samples than scenes draw further view sets from the same scenes), ``num_views`` views at
    ``size = (H, W)``."""
    height, width = size
    return [ViewRequest(k % len(dataset), num_views, height, width, seed + k) for k in range(num_samples)]


def evaluation_batches(dataset: Dataset, num_samples: int, num_views: int, size: tuple[int, int], seed: int = 0,
                       batch_size: int = 1) -> Iterator[ViewBatch]:
    """The samples of :func:`evaluation_requests`, collated ``batch_size`` at a time (the last may be smaller)."""
    requests = evaluation_requests(dataset, num_samples, num_views, size, seed)
    for start in range(0, len(requests), batch_size):
        yield collate_views([dataset[request] for request in requests[start:start + batch_size]])
