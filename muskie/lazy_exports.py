"""Package attributes imported when first used, so that importing a package (``muskie``, ``muskie.data``) or
one light module inside it (``muskie.model.config``) does not import torch and every other module of the
package: the ``muskie`` command parses its arguments and prints its help without them."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[Callable, Callable]:
    """The module ``__getattr__`` and ``__dir__`` (PEP 562) of ``package``, which exports the names of
    ``exports`` (module name -> the names it provides) without importing them.

    ``package.Name`` imports the module that provides ``Name`` on first access and caches the value in the
    package; ``package.submodule`` imports that submodule, as an eager ``__init__`` would have. Any other
    name is an AttributeError."""
    provider = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        if name in provider:
            value = getattr(importlib.import_module(provider[name]), name)
        elif importlib.util.find_spec(f"{package}.{name}") is not None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(provider))

    return __getattr__, __dir__
