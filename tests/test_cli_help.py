"""The command line's help: it answers without importing torch or NumPy, every computing command takes
``--device`` (``auto`` by default) and every long one ``--no-progress``, defaults are shown, and
``--print-config`` lists every key ``--set`` accepts."""

import argparse
import json
import subprocess
import sys
import textwrap

import pytest
from cli_runner import muskie

from muskie.cli.main import build_parser

# commands that compute (load a model or render) and so take --device; long ones take --no-progress
COMPUTING = [
    ("pretrain",),
    ("recon", "train"),
    ("recon", "eval"),
    ("recon", "predict"),
    ("eval", "correspondence"),
    ("eval", "masked-views"),
    ("eval", "probe"),
    ("features",),
    ("pca",),
]
LONG = [
    ("pretrain",),
    ("recon", "train"),
    ("recon", "eval"),
    ("recon", "predict"),
    ("eval", "correspondence"),
    ("eval", "masked-views"),
    ("eval", "probe"),
    ("features",),
    ("pca",),
    ("synth",),
    ("data", "index"),
    ("data", "check"),
    ("data", "show"),
]


def command_parsers(parser: argparse.ArgumentParser, prefix: tuple = ()) -> dict[tuple, argparse.ArgumentParser]:
    """Every (sub-)command's parser, by its words: () is ``muskie`` itself."""
    found = {prefix: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.update(command_parsers(child, prefix + (name,)))
    return found


def test_every_help_parses_without_torch_or_numpy():
    script = textwrap.dedent("""
        import contextlib, io, json, sys
        from muskie.cli.main import build_parser
        sys.path.insert(0, "tests")
        from test_cli_help import command_parsers
        commands = [list(words) for words in command_parsers(build_parser())]
        for words in commands:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                build_parser().parse_args(words + ["--help"])
        print(json.dumps({"commands": commands, "loaded": [m for m in ("torch", "numpy") if m in sys.modules]}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout)
    commands = {tuple(words) for words in report["commands"]}
    assert {(), ("info",), ("data", "show"), ("data", "formats"), *COMPUTING, *LONG} <= commands
    assert report["loaded"] == []


@pytest.mark.parametrize("words", COMPUTING, ids=" ".join)
def test_computing_commands_take_device_auto_unless_a_recipe_decides(words):
    parser = command_parsers(build_parser())[words]
    device = next(a for a in parser._actions if "--device" in a.option_strings)
    # the training commands leave it to the recipe, whose default (RunConfig.device) is auto
    assert device.default == (None if words in [("pretrain",), ("recon", "train")] else "auto")


def test_the_training_recipes_default_to_device_auto():
    from muskie.pretraining.config import PretrainConfig
    from muskie.recon.config import ReconTrainConfig

    assert PretrainConfig().device == ReconTrainConfig().device == "auto"


@pytest.mark.parametrize("words", LONG, ids=" ".join)
def test_long_commands_take_no_progress(words):
    parser = command_parsers(build_parser())[words]
    assert any("--no-progress" in a.option_strings for a in parser._actions)


def test_help_shows_defaults_once():
    text = command_parsers(build_parser())[("synth",)].format_help()
    assert "image height in pixels (default: 256)" in " ".join(text.split())
    assert "(default: rig)" in text and text.count("(default: 256)") == 2  # --height, --width
    assert "(default: False)" not in text and "(default: None)" not in text
    probe = " ".join(command_parsers(build_parser())[("eval", "probe")].format_help().split())
    assert "--size H W image size (multiples of each Muskie backbone's patch size) (default: 64 64)" in probe


def test_print_config_lists_every_key_with_type_and_default():
    out = muskie("pretrain", "--print-config").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["optim.lr"][1:] == ["float", "0.0002"]
    assert rows["data.batch_size"][1:] == ["int", "4"]
    assert rows["optim.clip_grad"][1:] == ["float", "|", "None", "null"]
    assert rows["data.sources[].weight"][1:] == ["float", "1.0"]
    assert rows["mask.use_reference_views"][1:] == ["bool", "true"]
    assert rows["peer.decoder_depth"][1:] == ["int", "1"]
    assert "this run" not in out.splitlines()[1]


def test_print_config_shows_what_a_recipe_and_set_change(tmp_path):
    out = muskie(
        "recon", "train", "--recipe", "tiny-cpu", "--set", "optim.lr=0.5", "--out", tmp_path / "run", "--print-config"
    ).stdout
    assert out.splitlines()[1].split() == ["key", "type", "default", "this", "run"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["optim.lr"][1:] == ["float", "0.0001", "0.5"]
    assert rows["out_dir"][-1] == str(tmp_path / "run")
    assert rows["model.dpt_dim"][1:] == ["int", "64"] or len(rows["model.dpt_dim"]) == 4
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written
