from dataclasses import dataclass, field

import pytest

from muskie.config_io import ConfigError, from_dict, merge, parse_override, to_dict


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
