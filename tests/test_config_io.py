import time
from dataclasses import dataclass, field

import pytest

from muskie.config_io import ConfigError, from_dict, load_yaml, merge, parse_override, to_dict


@dataclass
class Inner:
    rate: float = 0.5
    sizes: list[list[int]] = field(default_factory=lambda: [[1, 2]])
    pair: tuple[float, float] = (0.1, 0.2)


@dataclass
class Outer:
    name: str = "x"
    count: int = 1
    clip: float | None = None
    inner: Inner = field(default_factory=Inner)


def test_round_trip_and_int_to_float():
    config = from_dict(Outer, {"count": 3, "inner": {"rate": 1, "pair": [1, 2]}})
    assert config.inner.rate == 1.0 and isinstance(config.inner.rate, float)
    assert config.inner.pair == (1.0, 2.0)
    assert from_dict(Outer, to_dict(config)) == config


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nmae": "y"}, r"config: unknown key\(s\) \['nmae'\]"),
        ({"inner": {"rat": 1.0}}, r"config.inner: unknown key"),
        ({"count": "3"}, r"config.count: expected an integer"),
        ({"count": True}, r"config.count: expected an integer"),
        ({"inner": {"sizes": [[1, "a"]]}}, r"config.inner.sizes\[0\]\[1\]: expected an integer"),
        ({"inner": {"pair": [1.0]}}, r"config.inner.pair: expected 2 values"),
        ({"clip": "high"}, r"config.clip: expected a number"),
        ({"inner": 3}, r"config.inner: expected a mapping"),
        ({"inner": {"rate": float("nan")}}, r"config.inner.rate: expected a finite number, got nan"),
        ({"clip": float("-inf")}, r"config.clip: expected a finite number, got -inf"),
        ({"inner": {"pair": [0.1, 10**400]}}, r"config.inner.pair\[1\]: expected a finite number"),
    ],
)
def test_bad_configs_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_merge_and_overrides():
    config = merge(Outer(), parse_override("inner.rate=2e-3"))
    assert config.inner.rate == pytest.approx(2e-3)
    assert merge(config, parse_override("clip=null")).clip is None
    assert merge(config, parse_override("inner.sizes=[[3, 4], [5, 6]]")).inner.sizes == [[3, 4], [5, 6]]
    with pytest.raises(ConfigError, match="key.subkey=value"):
        parse_override("inner.rate")


def test_non_finite_yaml_numbers_are_refused():
    for text in ("inner.rate=.nan", "inner.rate=.inf", "clip=-.Inf"):
        with pytest.raises(ConfigError, match="expected a finite number"):
            merge(Outer(), parse_override(text))


def test_a_malformed_override_value_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"override 'inner.sizes=\[\[1, 2\]': not valid YAML"):
        parse_override("inner.sizes=[[1, 2]")


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    # "billion laughs": 9 levels of 9 aliases expand into 9**9 (387 million) strings
    lines = ['a0: &a0 ["lol"]'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 1000
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"{path}: not valid YAML .*aliases .* are not allowed"):
        load_yaml(path)
    assert time.perf_counter() - started < 1
    with pytest.raises(ConfigError, match="aliases"):
        parse_override("inner.sizes=[&x [1, 2], *x]")


def test_config_keys_flatten_nested_configs_with_their_types_and_defaults():
    from muskie.config_io import ConfigKey, config_keys

    @dataclass
    class Entry:
        path: str = ""
        weight: float = 1.0

    @dataclass
    class Inner:
        size: tuple[int, int] = (64, 64)
        clip: float | None = None

    @dataclass
    class Outer:
        steps: int = 10
        inner: Inner = field(default_factory=Inner)
        entries: list[Entry] = field(default_factory=list)

    assert config_keys(Outer(steps=3)) == [
        ConfigKey("steps", "int", 3),
        ConfigKey("inner.size", "tuple[int, int]", [64, 64]),
        ConfigKey("inner.clip", "float | None", None),
        ConfigKey("entries", "list[Entry]", []),
        ConfigKey("entries[].path", "str", ""),
        ConfigKey("entries[].weight", "float", 1.0),
    ]
