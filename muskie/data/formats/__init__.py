"""Dataset adapters: the pre-training and benchmark datasets read in their authors' layouts.

``FORMATS`` maps each format name to its :class:`DatasetFormat`; :func:`read_dataset` reads every scene of a
root. An adapter lives in its own module, which defines ``FORMAT`` (or ``FORMATS``, a tuple of several), and
is listed in ``_ADAPTER_MODULES`` (adapters import optional readers such as h5py only when they read a file,
so importing them is cheap).
"""

from __future__ import annotations

import inspect
from importlib import import_module
from pathlib import Path

from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.scene import Scene

FORMATS: dict[str, DatasetFormat] = {}


def register_format(dataset_format: DatasetFormat) -> DatasetFormat:
    """Add an adapter to :data:`FORMATS` (its name must be new)."""
    if dataset_format.name in FORMATS:
        raise ValueError(f"dataset format {dataset_format.name!r} is already registered")
    FORMATS[dataset_format.name] = dataset_format
    return dataset_format


def get_format(name: str) -> DatasetFormat:
    """The adapter called ``name``; a ValueError lists the known names."""
    if name not in FORMATS:
        raise ValueError(f"unknown dataset format {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]


def adapter_options(dataset_format: DatasetFormat) -> tuple[str, ...]:
    """The keyword options the adapter's ``read_scene`` takes besides ``cameras`` and ``depth`` (e.g.
    ``allow_pickle`` for MegaDepth scene-info files, ``allow_outside`` for paths that leave the root)."""
    parameters = inspect.signature(dataset_format.read_scene).parameters
    return tuple(
        name
        for name, parameter in parameters.items()
        if parameter.kind == parameter.POSITIONAL_OR_KEYWORD
        and parameter.default is not parameter.empty
        and name not in ("cameras", "depth")
    )


def check_options(name: str, options: dict) -> None:
    """Refuse options the adapter of format ``name`` does not take; the ValueError lists those it does."""
    accepted = adapter_options(get_format(name))
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"format {name!r} takes no option(s) {', '.join(unknown)}; it takes: {', '.join(accepted) or 'none'}"
        )


def read_dataset(root: str | Path, name: str, cameras: bool = True, depth: bool = True, **options) -> list[Scene]:
    """Every scene of the dataset at ``root`` in format ``name``, in the order of its scene ids; ``options`` go to
    the adapter's ``read_scene`` (see :func:`adapter_options`).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        FormatError: ``root`` does not look like the format (the message says what was expected).
        ValueError: an option the adapter does not take.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    check_options(name, options)
    dataset_format = get_format(name)
    return [
        dataset_format.read_scene(root, scene_id, cameras=cameras, depth=depth, **options)
        for scene_id in dataset_format.find_scenes(root)
    ]


_ADAPTER_MODULES: tuple[str, ...] = (
    "generic",
    "co3d",
    "wildrgbd",
    "blendedmvs",
    "dust3r",
    "dl3dv",
    "arkitscenes",
    "scannetpp",
    "sevenscenes",
    "scannet",
    "megadepth",
    "hypersim",
    "realestate10k",
    "navi",
    "nrgbd",
)
for _module in _ADAPTER_MODULES:
    _adapter = import_module(f"muskie.data.formats.{_module}")
    for _format in getattr(_adapter, "FORMATS", None) or (_adapter.FORMAT,):
        register_format(_format)

__all__ = [
    "FORMATS",
    "DatasetFormat",
    "FormatError",
    "PoseFilter",
    "adapter_options",
    "check_options",
    "get_format",
    "read_dataset",
    "register_format",
]
