"""Dataclass configs from and to plain dicts / YAML, with unknown keys, wrong types and non-finite numbers
rejected. YAML is read without aliases (``&a`` / ``*a``): nested aliases expand exponentially (a few hundred
bytes can ask for gigabytes), and no recipe needs them."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ConfigError(ValueError):
    """A config with an unknown key, a value of the wrong type, or an unreadable file."""


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases, so a document costs no more than its own size."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in muskie configs", event.start_mark
            )
        return super().compose_node(parent, index)


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document ``text`` (no aliases); a :class:`ConfigError` naming ``where`` if it is not valid."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML ({' '.join(str(err).split())})") from None


def check_fields(config: Any, where: str) -> None:
    """Check the fields of dataclass instance ``config`` against their annotations, in place (ints become
    floats where a float is declared): for dataclasses built directly from a file's dict (``MuskieConfig``
    from a ``config.json``), whose constructor does not go through :func:`from_dict`. Raises
    :class:`ConfigError` naming ``where.field``."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = _coerce(hints[f.name], getattr(config, f.name), f"{where}.{f.name}")
        object.__setattr__(config, f.name, value)  # frozen dataclasses too


def to_dict(config: Any) -> dict:
    """A dataclass (nested) -> plain dict of JSON/YAML-compatible values (tuples become lists)."""

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses.

    Missing keys take their defaults. Raises :class:`ConfigError` naming the dotted key for an unknown key
    or a value whose type does not match the annotation.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(fields)}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def merge(config: T, overrides: dict, where: str = "config") -> T:
    """A copy of ``config`` with the nested ``overrides`` dict applied on top, type-checked."""
    base = to_dict(config)

    def deep_update(target: dict, update: dict) -> None:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict) and key != "model_overrides":
                deep_update(target[key], value)
            else:
                target[key] = value

    deep_update(base, overrides)
    return from_dict(type(config), base, where)


def layered_config(default: T, recipe_path: Path | None, overrides: list[dict] = ()) -> T:
    """``default``, then the YAML file at ``recipe_path`` (if any), then each override dict on top."""
    config = default
    if recipe_path is not None:
        config = merge(config, load_yaml(recipe_path), where=str(recipe_path))
    for override in overrides:
        config = merge(config, override)
    return config


def parse_override(text: str) -> dict:
    """``"optim.lr=1e-3"`` -> ``{"optim": {"lr": 0.001}}``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.subkey=value")
    key, raw = text.split("=", 1)
    value = parse_yaml(raw, f"override {text!r}")
    result: dict = {}
    node = result
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return result


@dataclasses.dataclass(frozen=True)
class ConfigKey:
    """One key of a config as ``--set`` names it: ``key`` dotted (``optim.lr``; ``data.sources[].path`` for
    a field of every entry of a list of configs), ``type`` as written in the dataclass (``float``,
    ``tuple[int, int]``, ``str | None``), ``default`` its value in ``config`` (JSON/YAML-compatible)."""

    key: str
    type: str
    default: Any


def config_keys(config: Any) -> list[ConfigKey]:
    """Every key of dataclass instance ``config``, nested dataclasses flattened into dotted keys (in field
    order), and the fields of the entries of lists of dataclasses as ``name[].field`` (their defaults those
    of a default entry, when the entry class can be built without arguments)."""
    keys: list[ConfigKey] = []

    def visit(instance: Any, cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint, key = hints[f.name], prefix + f.name
            value = getattr(instance, f.name) if instance is not None else _field_default(f)
            if dataclasses.is_dataclass(hint) and value is not None:
                visit(value, hint, key + ".")
                continue
            keys.append(ConfigKey(key, _type_name(hint), to_dict(value)))
            entry = typing.get_args(hint)[0] if typing.get_origin(hint) is list and typing.get_args(hint) else None
            if dataclasses.is_dataclass(entry):
                visit(_default_instance(entry), entry, key + "[].")

    visit(config, type(config), "")
    return keys


def _field_default(f: dataclasses.Field) -> Any:
    """A field's default (None when it has none: a required field)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _default_instance(cls: type) -> Any:
    """``cls()``, or None when some field has no default (its fields are then listed with their own)."""
    try:
        return cls()
    except (TypeError, ValueError):
        return None


def _type_name(hint: Any) -> str:
    """A type annotation as a reader writes it: ``int``, ``tuple[int, int]``, ``str | None``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    data = parse_yaml(path.read_text(), str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _coerce(annotation, value, where: str):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if annotation is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item_type = args[0] if args else Any
        items = [_coerce(item_type, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            # YAML 1.1 reads "1e-3" (no dot) as a string; it is a number to anyone writing a config
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any float
            value = math.inf
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value
