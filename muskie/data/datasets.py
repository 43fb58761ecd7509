"""The one place that turns a scene source into a multi-view dataset, and the one rule that turns a
dataset into evaluation samples.

A source is ``"synthetic"`` (procedural scenes of one split, rendered on the fly), a path that
:func:`muskie.data.sources.load_scenes` reads (a scene folder, a folder of scene folders, a manifest), or a
weighted mixture of datasets (``data.sources``: :class:`DatasetSourceConfig` entries, each a dataset root
read with its format's adapter, ``muskie.data.formats``, or a manifest; :func:`open_mixture`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from muskie.config_io import ConfigError, from_dict
from muskie.data.batch import ViewBatch, collate_views
from muskie.data.formats import FORMATS, check_options, get_format, read_dataset
from muskie.data.mixture import MixtureDataset
from muskie.data.scene import Scene
from muskie.data.sources import load_manifest, load_scenes
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.synthetic.config import split_seeds
from muskie.data.synthetic.dataset import DEFAULT_SCENE_CACHE, MAX_SCENE_CACHE
from muskie.data.views import VIEW_MODES, MultiViewDataset, ViewRequest

SYNTHETIC = "synthetic"
# the probability that a sample of an object-centric dataset zooms into the object's box (the paper's)
OBJECT_ZOOM = 0.5
_REQUIREMENTS = {"cameras": lambda scene: scene.has_cameras, "depth": lambda scene: scene.has_depth}


def _check_requirements(scenes: Sequence[Scene], require: tuple[str, ...], source: str) -> None:
    """Raise ValueError naming ``source`` and the scenes that lack a required ``"cameras"`` / ``"depth"``."""
    unknown = sorted(set(require) - set(_REQUIREMENTS))
    if unknown:
        raise ValueError(f"require: unknown requirement(s) {unknown}; choose from {sorted(_REQUIREMENTS)}")
    lacking = [s.name for s in scenes if not all(_REQUIREMENTS[need](s) for need in require)]
    if lacking:
        raise ValueError(
            f"{source}: every scene needs {' and '.join(require)}; scenes without them: "
            f"{', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}"
        )


def is_manifest(path: Path) -> bool:
    """``path`` is a manifest file (a ``.json`` other than a scene's ``transforms.json``)."""
    return path.is_file() and path.suffix == ".json" and path.name != "transforms.json"


@dataclass
class DatasetSourceConfig:
    """One dataset of a mixture (an entry of ``data.sources``).

    Attributes:
        path: a dataset root, read with the ``format``'s adapter, or a manifest (``muskie data index``).
        format: a ``muskie.data.formats`` name; for a manifest it sets the defaults below.
        weight: the dataset's share of the samples is ``weight / sum of weights`` (> 0).
        window: frames a sample's views are drawn from; None: the format's (32; 16 HyperSim, 64 DL3DV).
        object_zoom: probability in [0, 1] that a sample zooms into the object's box, where the frames have
            masks; None: 0.5 for object-centric formats (CO3D, WildRGB-D), 0 otherwise.
        views: ``"window"`` (consecutive frames) or ``"neighbours"`` (a frame and its listed neighbours, for
            datasets that give them: BlendedMVS, MegaDepth).
        options: keyword options of the format's adapter (``muskie.data.formats.adapter_options``), e.g.
            ``{allow_pickle: true}`` for MegaDepth scene-info files you trust, ``{allow_outside: true}`` for a
            dataset whose files name paths outside its root (for a manifest: paths outside its ``root``, as a
            root assembled from links to other disks has; its other options are the adapter's when indexing).
    """

    path: str = ""
    format: str = "auto"
    weight: float = 1.0
    window: int | None = None
    object_zoom: float | None = None
    views: str = "window"
    options: dict = field(default_factory=dict)

    def validate(self, where: str) -> None:
        """Raise ConfigError naming the key (``where`` is the entry's, e.g. ``data.sources[1]``)."""
        if not self.path:
            raise ConfigError(f"{where}.path is empty: give a dataset root or a manifest")
        if self.format not in FORMATS:
            raise ConfigError(
                f"{where}.format: unknown dataset format {self.format!r}; known: {', '.join(sorted(FORMATS))}"
            )
        if not self.weight > 0:
            raise ConfigError(f"{where}.weight must be > 0, got {self.weight}")
        if self.window is not None and self.window < 1:
            raise ConfigError(f"{where}.window must be >= 1, got {self.window}")
        if self.object_zoom is not None and not 0 <= self.object_zoom <= 1:
            raise ConfigError(f"{where}.object_zoom must be a probability in [0, 1], got {self.object_zoom}")
        if self.views not in VIEW_MODES:
            raise ConfigError(f"{where}.views must be one of {', '.join(VIEW_MODES)}, got {self.views!r}")
        try:
            check_options(self.format, self.options)
        except ValueError as err:
            raise ConfigError(f"{where}.options: {err}") from None
        for key, value in self.options.items():
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.options.{key} must be true or false, got {value!r}")

    def frame_window(self) -> int:
        """The window in frames: ``window`` or the format's default."""
        return get_format(self.format).window if self.window is None else self.window

    def zoom_probability(self) -> float:
        """``object_zoom`` or the format's default."""
        if self.object_zoom is not None:
            return self.object_zoom
        return OBJECT_ZOOM if get_format(self.format).object_centric else 0.0


def open_source(
    entry: DatasetSourceConfig,
    where: str | None = None,
    *,
    crop_scale: tuple[float, float] = (0.8, 1.0),
    skip_bad: bool = True,
    require: tuple[str, ...] = (),
    images_only: bool = False,
) -> MultiViewDataset:
    """The dataset of one mixture entry: its scenes (a manifest's, or its root's read by the format's
    adapter, without cameras and depth when ``images_only``) sampled with its window, views and zoom.

    Raises:
        ValueError: the path is missing or does not look like the format, a scene lacks a requirement, or
            ``views`` is ``neighbours`` and no scene lists neighbours; the message starts with the key
            (``where``, e.g. ``data.sources[1]``, then ``.path`` or ``.views``) when ``where`` is given.
    """
    prefix = f"{where}." if where else ""
    path = Path(entry.path)
    if not path.exists():
        raise ValueError(
            f"{prefix}path: {path}: no such file or directory" if where else f"{path}: no such file or directory"
        )
    try:
        if is_manifest(path):
            scenes = load_manifest(path, allow_outside=entry.options.get("allow_outside", False))
        else:
            scenes = read_dataset(path, entry.format, cameras=not images_only, depth=not images_only, **entry.options)
    except (OSError, ValueError) as err:
        raise ValueError(f"{prefix}path: {err}" if where else str(err)) from None
    if not scenes:
        raise ValueError(f"{prefix}path: {path}: no scenes" if where else f"{path}: no scenes")
    _check_requirements(scenes, require, f"{prefix}path {path}" if where else str(path))
    if entry.views == "neighbours" and not any(scene.neighbours for scene in scenes):
        raise ValueError(f"{prefix}views is neighbours, but no scene of {path} lists neighbours")
    return MultiViewDataset(
        scenes,
        window=entry.frame_window(),
        crop_scale=tuple(crop_scale),
        skip_bad=skip_bad,
        images_only=images_only,
        object_zoom=entry.zoom_probability(),
        views=entry.views,
    )


def open_mixture(
    entries: Sequence[DatasetSourceConfig],
    *,
    crop_scale: tuple[float, float] = (0.8, 1.0),
    skip_bad: bool = True,
    require: tuple[str, ...] = (),
    images_only: bool = False,
) -> MixtureDataset:
    """The weighted mixture of ``entries`` (``data.sources``), each opened by :func:`open_source`."""
    parts = [
        open_source(
            entry,
            f"data.sources[{i}]",
            crop_scale=crop_scale,
            skip_bad=skip_bad,
            require=require,
            images_only=images_only,
        )
        for i, entry in enumerate(entries)
    ]
    return MixtureDataset(
        parts, [entry.weight for entry in entries], [f"{entry.format}:{entry.path}" for entry in entries]
    )


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
    images_only: bool = False,
    synthetic_cache: int = DEFAULT_SCENE_CACHE,
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
        images_only: samples of scenes on disk hold images only and read no depth file (pre-training).
        synthetic_cache: synthetic scenes kept built per process (see ``SyntheticViewDataset``).
    """
    if not source:
        raise ValueError("the scene source is empty: give 'synthetic' or a path")
    if source == SYNTHETIC:
        return SyntheticViewDataset(
            split=split,
            config=synthetic_configs(synthetic_path, window, synthetic_mix),
            num_scenes=synthetic_scenes,
            cache_scenes=synthetic_cache,
        )
    scenes = load_scenes(source)
    _check_requirements(scenes, require, source)
    return MultiViewDataset(
        scenes,
        window=32 if window is None else window,
        crop_scale=tuple(crop_scale),
        skip_bad=skip_bad,
        images_only=images_only,
    )


@dataclass
class SceneSourceConfig:
    """Where a training task's scenes come from and how they are loaded (each task's ``data`` config adds
    how views are drawn from them).

    ``source``: ``"synthetic"`` or a path (see the module docstring); ``sources``: a weighted mixture of
    datasets instead (:class:`DatasetSourceConfig` entries; ``source`` then stays ``synthetic``, its
    default); ``val_source``: held-out scenes for the validation loss (None: the synthetic ``val`` split when
    the training scenes are synthetic); ``synthetic_path`` and ``synthetic_scenes``: the synthetic camera
    path and the number of training scenes; ``synthetic_cache``: synthetic scenes kept built per loader
    process (``synthetic_cache >= synthetic_scenes``: a fixed pool of scenes, each built once and then
    reused; about 8 MB per scene); ``synthetic_mix``: a mixture of synthetic scene kinds instead of
    one path (see :func:`open_view_dataset`); ``window``: the frames a sample's views are drawn from (for
    ``source``; each entry of ``sources`` has its own); ``batch_size`` scenes per batch; ``workers`` loader
    processes; ``crop_scale``: the area fraction of the random resized crop.
    """

    source: str = SYNTHETIC
    sources: list[DatasetSourceConfig] = field(default_factory=list)
    val_source: str | None = None
    synthetic_path: str = "rig"
    synthetic_scenes: int = 100_000
    synthetic_cache: int = DEFAULT_SCENE_CACHE
    synthetic_mix: list[dict] = field(default_factory=list)
    window: int = 32
    batch_size: int = 4
    workers: int = 4
    crop_scale: tuple[float, float] = (0.8, 1.0)

    @property
    def has_validation(self) -> bool:
        """Held-out scenes exist: ``val_source`` is set or the training scenes are synthetic (its ``val``
        split)."""
        return bool(self.val_source) or (self.source == SYNTHETIC and not self.sources)

    def open(
        self,
        split: str = "train",
        require: tuple[str, ...] = (),
        num_scenes: int | None = None,
        images_only: bool = False,
    ) -> Dataset:
        """The training scenes (``split="train"``, random crops: ``sources``' mixture or ``source``) or the
        held-out ones (``"val"``: ``val_source`` or the synthetic ``val`` split, full frames); ``num_scenes``
        synthetic scenes (default ``synthetic_scenes``). ``require``, ``images_only``: see
        :func:`open_view_dataset`. Training replaces bad samples; held-out scenes do not (a validation scores
        the samples it names, or fails naming the bad one)."""
        training = split == "train"
        crop_scale = tuple(self.crop_scale) if training else (1.0, 1.0)
        if training and self.sources:
            return open_mixture(self.sources, crop_scale=crop_scale, require=require, images_only=images_only)
        return open_view_dataset(
            self.source if training else (self.val_source or self.source),
            split=split,
            synthetic_path=self.synthetic_path,
            synthetic_scenes=num_scenes or self.synthetic_scenes,
            window=self.window,
            crop_scale=crop_scale,
            require=require,
            synthetic_mix=self.synthetic_mix,
            images_only=images_only,
            skip_bad=training,
            synthetic_cache=self.synthetic_cache,
        )

    def validate(self, needs_validation: bool = False) -> None:
        """Raise ConfigError (naming the ``data.`` key) for values types alone do not catch."""
        if not self.source:
            raise ConfigError("data.source is empty: give 'synthetic' or a path")
        if self.sources and self.source != SYNTHETIC:
            raise ConfigError("set data.source or data.sources, not both")
        for index, entry in enumerate(self.sources):
            entry.validate(f"data.sources[{index}]")
        if self.batch_size < 1 or self.workers < 0:
            raise ConfigError("data.batch_size must be >= 1 and data.workers >= 0")
        if self.window < 1:
            raise ConfigError(f"data.window must be >= 1, got {self.window}")
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ConfigError(f"data.crop_scale must satisfy 0 < low <= high <= 1, got {list(self.crop_scale)}")
        if self.source == SYNTHETIC:
            synthetic_configs(self.synthetic_path, self.window, self.synthetic_mix)
            if not 1 <= self.synthetic_scenes <= len(split_seeds("train")):
                raise ConfigError(
                    f"data.synthetic_scenes must be in [1, {len(split_seeds('train'))}], got {self.synthetic_scenes}"
                )
            if not 1 <= self.synthetic_cache <= MAX_SCENE_CACHE:
                raise ConfigError(
                    f"data.synthetic_cache must be in [1, {MAX_SCENE_CACHE}] (about 8 MB per scene per loader "
                    f"process), got {self.synthetic_cache}"
                )
        if needs_validation and not self.has_validation:
            raise ConfigError(
                "val_every needs held-out scenes: set data.val_source (scenes on disk have no "
                "automatic validation split)"
            )


def synthetic_configs(
    synthetic_path: str = "rig", window: int | None = None, mix: list[dict] = ()
) -> list[SyntheticConfig]:
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


def evaluation_requests(
    dataset: Dataset, num_samples: int, num_views: int, size: tuple[int, int], seed: int = 0
) -> list[ViewRequest]:
    """The requests of an evaluation: sample ``k`` takes scene ``k mod len(dataset)`` with seed ``seed + k``
    (more samples than scenes draw further view sets from the same scenes), ``num_views`` views at
    ``size = (H, W)``."""
    height, width = size
    return [ViewRequest(k % len(dataset), num_views, height, width, seed + k) for k in range(num_samples)]


def evaluation_batches(
    dataset: Dataset, num_samples: int, num_views: int, size: tuple[int, int], seed: int = 0, batch_size: int = 1
) -> Iterator[ViewBatch]:
    """The samples of :func:`evaluation_requests`, collated ``batch_size`` at a time (the last may be smaller)."""
    requests = evaluation_requests(dataset, num_samples, num_views, size, seed)
    for start in range(0, len(requests), batch_size):
        yield collate_views([dataset[request] for request in requests[start : start + batch_size]])
