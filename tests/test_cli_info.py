"""``muskie info``: the presets table, filters and errors."""

import argparse

import pytest

from muskie.cli import info


def run_info(argv):
    parser = argparse.ArgumentParser(prog="muskie")
    info.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["info", *argv])
    return args.run(args)


def test_table_lists_every_preset_with_counts(capsys):
    assert run_info([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "224x224 px in scenes of 8 views" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert list(rows) == ["tiny", "small", "base", "large", "huge"]
    assert rows["base"][1:7] == ["768", "6", "12", "16", "85.65", "86.83"]
    assert rows["large"][6] == "304.68" and rows["huge"][6] == "632.64" and rows["tiny"][6] == "1.66"
    forward, train = float(rows["base"][7]), float(rows["base"][8])
    assert train == pytest.approx(3 * forward, abs=0.02)


def test_preset_views_and_size_options(capsys):
    run_info(["--preset", "small", "--views", "2", "--size", "64", "96"])
    lines = capsys.readouterr().out.splitlines()
    assert "64x96 px in scenes of 2 views" in lines[0]
    assert len(lines) == 3 and lines[2].split()[0] == "small"


def test_more_views_cost_more_per_view():
    few, many = (info.preset_info(["base"], views=v)[0] for v in (2, 16))
    assert many.forward_flops_per_view > few.forward_flops_per_view
    assert many.total_params == few.total_params


def test_bad_sizes_and_names():
    with pytest.raises(ValueError, match="preset base: image size 100x224 is not a multiple of its patch size 16"):
        run_info(["--preset", "base", "--size", "100", "224"])
    with pytest.raises(ValueError, match="num_views must be at least 1"):
        run_info(["--views", "0"])
    with pytest.raises(SystemExit):
        run_info(["--preset", "gigantic"])
