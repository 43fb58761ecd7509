"""Adapter options (allow_pickle, allow_outside) reach the adapters from read_dataset, the mixture config and
`muskie data index`, and options an adapter does not take are refused."""

import os
import warnings
from pathlib import Path

import pytest

from muskie.cli.main import main
from muskie.config_io import ConfigError
from muskie.data.datasets import DatasetSourceConfig
from muskie.data.formats import adapter_options, check_options, get_format, read_dataset

SAMPLES = Path(os.environ.get("MUSKIE_FORMAT_SAMPLES", Path(__file__).resolve().parents[2] / "shared/data/formats"))


def test_each_adapter_lists_its_options():
    assert set(adapter_options(get_format("megadepth"))) == {"allow_pickle", "allow_outside"}
    assert adapter_options(get_format("co3d")) == ("allow_outside",)
    with pytest.raises(ValueError, match="format 'co3d' takes no option.*allow_pickle; it takes: allow_outside"):
        check_options("co3d", {"allow_pickle": True})


def test_mixture_entries_check_their_options():
    DatasetSourceConfig(path="x", format="megadepth", options={"allow_pickle": True}).validate("data.sources[0]")
    with pytest.raises(ConfigError, match=r"data.sources\[0\].options: format 'images' takes no option"):
        DatasetSourceConfig(path="x", format="images", options={"allow_pickle": True}).validate("data.sources[0]")
    with pytest.raises(ConfigError, match=r"options.allow_pickle must be true or false"):
        DatasetSourceConfig(path="x", format="megadepth", options={"allow_pickle": "yes"}).validate("data.sources[0]")


@pytest.fixture
def megadepth_sample() -> Path:
    pytest.importorskip("h5py")
    root = SAMPLES / "megadepth" / "megadepth_sample"
    if not (root / "sample.npz").is_file():
        pytest.skip(f"MegaDepth sample not found at {root} (set MUSKIE_FORMAT_SAMPLES to shared/data/formats)")
    return root


def test_scene_info_roots_are_read_only_with_allow_pickle(megadepth_sample, tmp_path, capsys):
    with pytest.raises(ValueError, match="allow_pickle"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [
            scene
            for scene in read_dataset(megadepth_sample, "megadepth", cameras=False, depth=False)
            if scene.name.endswith("sample.npz")
        ]
    command = [
        "data",
        "index",
        str(megadepth_sample),
        "--format",
        "megadepth",
        "--out",
        str(tmp_path / "m.json"),
        "--workers",
        "1",
        "--no-progress",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample lists images it does not ship
        assert main(command) == 2
        assert "allow_pickle" in capsys.readouterr().err
        assert main([*command, "--allow-pickle"]) == 0
    assert "indexed" in capsys.readouterr().out and (tmp_path / "m.json").is_file()
