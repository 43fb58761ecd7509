"""``muskie eval probe`` end to end on a tiny model and tiny scenes."""

import json

from muskie.cli.main import main

SMALL = [
    "--samples",
    "2",
    "--test-samples",
    "1",
    "--views",
    "2",
    "--size",
    "16",
    "16",
    "--steps",
    "4",
    "--batch-size",
    "2",
    "--hidden",
    "8",
    "--warmup-steps",
    "1",
]


def test_probe_writes_tables_and_pins_every_setting(tmp_path, capsys):
    out = tmp_path / "probe"
    code = main(
        [
            "eval",
            "probe",
            "--backbone",
            "rand=random:tiny",
            "--task",
            "both",
            "--blocks",
            "0",
            "-1",
            "--device",
            "cpu",
            "--out",
            str(out),
            *SMALL,
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "depth:" in printed and "normals:" in printed and "| rand |" in printed
    assert "| constant features (floor) |" in printed
    data = json.loads((out / "probes.json").read_text())
    config = data["settings"]["config"]
    assert config["tasks"] == ["depth", "normals"] and config["blocks"] == [0, -1] and config["size"] == [16, 16]
    assert (config["num_samples"], config["num_test_samples"], config["steps"]) == (2, 1, 4)
    assert data["settings"]["device"] == "cpu" and data["settings"]["specs"] == ["rand=random:tiny"]
    results = {(r["backbone"], r["task"]): r for r in data["results"]}
    assert set(results) == {
        (name, task) for name in ("constant features (floor)", "rand") for task in ("depth", "normals")
    }
    assert results["rand", "depth"]["channels"] == 256  # two blocks of the tiny preset's 128
    assert 0 <= results["rand", "normals"]["metrics"]["angle_mean"] <= 180
    assert (out / "probes.md").read_text().split("\n\n", 1)[1] in printed


def test_probe_task_choice_and_errors(tmp_path, capsys):
    out = tmp_path / "probe"
    assert (
        main(["eval", "probe", "--backbone", "random", "--task", "normals", "--no-floor", "--out", str(out), *SMALL])
        == 0
    )
    results = json.loads((out / "probes.json").read_text())["results"]
    assert [(r["backbone"], r["task"]) for r in results] == [("random init (tiny)", "normals")]
    assert main(["eval", "probe", "--backbone", "random", "--out", str(out), *SMALL, "--steps", "0"]) == 2
    assert "steps" in capsys.readouterr().err
    assert main(["eval", "probe", "--backbone", "random", "--out", str(out), *SMALL, "--size", "12", "12"]) == 2
    assert "patch size" in capsys.readouterr().err


def test_probe_on_a_synthetic_mixture(tmp_path):
    recipe = tmp_path / "mix.yaml"
    recipe.write_text("synthetic_mix:\n  - {camera_path: orbit, overlap: 0.8, num_frames: 8}\n  - {camera_path: rig}\n")
    out = tmp_path / "probe"
    assert (
        main(
            [
                "eval",
                "probe",
                "--backbone",
                "random",
                "--task",
                "depth",
                "--samples",
                "2",
                "--views",
                "2",
                "--size",
                "32",
                "32",
                "--steps",
                "2",
                "--synthetic-mix",
                str(recipe),
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    config = json.loads((out / "probes.json").read_text())["settings"]["config"]
    assert [entry["camera_path"] for entry in config["synthetic_mix"]] == ["orbit", "rig"]
