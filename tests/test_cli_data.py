"""``muskie data index / check / show`` and a pre-training run on a mixture, as a user runs them."""

import json

import pytest
from cli_runner import muskie
from fixtures import write_image_folder
from PIL import Image
from test_cli_end_to_end import TINY

from muskie.cli.main import main
from muskie.data.synthetic import SyntheticConfig, write_synthetic_scenes


@pytest.fixture
def scenes(tmp_path):
    write_synthetic_scenes(tmp_path / "scenes", 2, config=SyntheticConfig(num_frames=6), height=32, width=32)
    return tmp_path / "scenes"


@pytest.mark.slow
def test_index_check_show(scenes, tmp_path, capsys):
    out = muskie("data", "index", scenes, "--format", "transforms_json", "--out", tmp_path / "m.json", "--workers", 2)
    assert "indexed 2 scenes, 12 frames" in out.stdout
    check = muskie("data", "check", tmp_path / "m.json", "--samples", 8)
    assert "| reprojection | 8 | 0 |" in check.stdout and "FAIL" not in check.stdout
    muskie(
        "data",
        "show",
        tmp_path / "m.json",
        "--out",
        tmp_path / "sheet.png",
        "--groups",
        3,
        "--views",
        4,
        "--size",
        16,
        24,
    )
    assert Image.open(tmp_path / "sheet.png").size == (4 + 4 * (24 + 4), 4 + 3 * (14 + 16 + 4))

    # the same scenes with depth in millimetres read as metres: the check fails, exit status 1
    manifest = json.loads((tmp_path / "m.json").read_text())
    for scene in manifest["scenes"]:
        for frame in scene["frames"]:
            frame["depth_scale"] = 1.0
    (tmp_path / "wrong.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["data", "check", str(tmp_path / "wrong.json"), "--samples", "8"]) == 1
    assert "| reprojection |" in capsys.readouterr().out.split("FAIL")[0]


def test_mistakes_exit_2_with_one_line(scenes, tmp_path, capsys):
    for args in (
        ["data", "index", tmp_path / "missing", "--format", "images", "--out", tmp_path / "m.json"],
        ["data", "index", tmp_path, "--format", "nope", "--out", tmp_path / "m.json"],
        ["data", "check", tmp_path / "missing.json"],
        ["data", "show", scenes, "--format", "images", "--out", tmp_path / "s.png"],
        ["data", "show", scenes, "--views", 7, "--out", tmp_path / "s.png"],
        [
            "pretrain",
            "--preset",
            "tiny",
            "--out",
            tmp_path / "bad",
            "--steps",
            3,
            *TINY,
            "--set",
            f"data.sources=[{{path: {scenes}}}, {{path: {tmp_path / 'nowhere'}}}]",
        ],
        [
            "pretrain",
            "--preset",
            "tiny",
            "--out",
            tmp_path / "bad",
            "--steps",
            3,
            *TINY,
            "--set",
            f"data.sources=[{{path: {scenes}, weight: -1}}]",
        ],
    ):
        assert main([str(arg) for arg in args]) == 2, args
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and " error: " in error, (args, error)
    assert "data.sources[0].weight must be > 0" in error


@pytest.mark.slow
def test_pretrain_on_a_mixture_of_two_formats(scenes, tmp_path):
    write_image_folder(tmp_path / "plain" / "p0", 4, size=(40, 48), suffix=".jpg")
    sources = (
        f"data.sources=[{{path: {scenes}, format: transforms_json, window: 4}}, "
        f"{{path: {tmp_path / 'plain'}, format: images, weight: 2}}]"
    )
    run = tmp_path / "run"
    out = muskie("pretrain", "--preset", "tiny", "--out", run, "--steps", 3, "--set", sources, *TINY)
    assert "finished at step 3/3" in out.stdout
    assert "format: images" in (run / "config.yaml").read_text()
