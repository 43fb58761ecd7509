"""The progress bar: drawn on a terminal, absent on a pipe or file and when turned off; each long command's bars
drawn on a terminal and left out with ``--no-progress``."""

import io
import sys
from pathlib import Path

import pytest
from fixtures import write_image_folder, write_nrgbd_scene

from muskie.data.synthetic import SyntheticConfig, write_synthetic_scenes
from muskie.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_is_drawn_on_a_terminal():
    stream = Terminal()
    assert list(progress_bar(range(3), desc="rendering", unit="scene", file=stream)) == [0, 1, 2]
    assert "rendering" in stream.getvalue() and "3/3" in stream.getvalue()


def test_no_bar_on_a_pipe_or_when_turned_off():
    pipe, terminal = io.StringIO(), Terminal()
    assert list(progress_bar(range(3), desc="rendering", file=pipe)) == [0, 1, 2]
    assert list(progress_bar(range(3), desc="rendering", enabled=False, file=terminal)) == [0, 1, 2]
    assert pipe.getvalue() == terminal.getvalue() == ""


def test_a_bar_updated_by_hand_counts_from_its_initial_value():
    stream = Terminal()
    with progress_bar(total=10, initial=4, unit="step", file=stream) as bar:
        bar.update(2)
        assert bar.n == 6
    assert "6/10" in stream.getvalue()


V1_RECON = Path(__file__).resolve().parent / "data" / "checkpoints_v1" / "recon.pt"  # trained at 8x8


# the arguments of one small run of each command, its inputs written into (and its outputs going to) a folder
def predict_args(tmp: Path) -> list:
    write_image_folder(tmp / "images", 3, size=(16, 16))
    return ["recon", "predict", "--checkpoint", V1_RECON, "--images", tmp / "images", "--out", tmp / "out"] + [
        "--chunk-views",
        2,
        "--chunk-overlap",
        1,
    ]


def benchmark_args(tmp: Path) -> list:
    write_nrgbd_scene(tmp / "root" / "a", 3)
    return ["recon", "eval", "--benchmark", "nrgbd-dense", "--oracle", "--scenes", tmp / "root", "--stride", 1] + [
        "--size",
        8,
        8,
        "--out",
        tmp / "out",
    ]


def show_args(tmp: Path) -> list:
    write_synthetic_scenes(tmp / "scenes", 1, config=SyntheticConfig(num_frames=3), height=16, width=16)
    return ["data", "show", tmp / "scenes", "--out", tmp / "sheet.png", "--groups", 2, "--views", 2, "--size", 8, 8]


def pca_args(tmp: Path) -> list:
    return ["pca", "--backbone", "random", "--views", 2, "--size", 32, 32, "--out", tmp / "pca.png"]


def correspondence_args(tmp: Path) -> list:
    return ["eval", "correspondence", "--backbone", "random", "--samples", 2, "--views", 2, "--size", 32, 32] + [
        "--queries",
        4,
        "--out",
        tmp / "out",
    ]


@pytest.mark.parametrize(
    ("make_args", "bars"),
    [
        (predict_args, ["reading images: 100%", "3/3", "reconstructing chunks: 100%", "2/2"]),
        (benchmark_args, ["reading NRGBD keyframes: 100%", "scoring sequences: 100%", "1/1"]),
        (show_args, ["loading view groups: 100%", "2/2"]),
        (pca_args, ["loading samples: 100%", "computing features: 100%", "1/1"]),
        (correspondence_args, ["loading samples: 100%", "2/2", "matching with random"]),
    ],
    ids=["recon predict", "recon eval --benchmark", "data show", "pca", "eval correspondence"],
)
def test_long_commands_draw_their_bars_on_a_terminal_and_not_with_no_progress(
    make_args, bars, tmp_path, monkeypatch, capsys
):
    from muskie.cli.main import main

    for run, extra in (("shown", []), ("hidden", ["--no-progress"])):
        args = [str(arg) for arg in make_args(tmp_path / run)]
        stream = Terminal()
        monkeypatch.setattr(sys, "stderr", stream)
        assert main([*args, *extra]) == 0, stream.getvalue()
        drawn = stream.getvalue()
        if run == "shown":
            assert all(bar in drawn for bar in bars), drawn
        else:
            assert "%|" not in drawn and not any(bar in drawn for bar in bars), drawn
    capsys.readouterr()
