"""``muskie eval correspondence`` and ``muskie pca`` end to end on tiny models and tiny scenes."""

import json

import pytest
import torch
from PIL import Image

from muskie.cli.main import main
from muskie.model import create_model

SMALL = ["--samples", "2", "--views", "3", "--size", "32", "32", "--queries", "20"]


@pytest.fixture
def twin(tmp_path):
    """A tiny frame-wise twin saved as a user would have it."""
    path = tmp_path / "twin"
    create_model("tiny", cross_view=False).save_pretrained(path)
    return path


def test_correspondence_on_synthetic_scenes(tmp_path, twin, capsys):
    out = tmp_path / "corr"
    code = main(
        [
            "eval",
            "correspondence",
            "--backbone",
            "rand=random:tiny",
            "--backbone",
            f"twin=muskie:{twin}",
            "--scenes",
            "synthetic",
            "--out",
            str(out),
            *SMALL,
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| rand | attention |" in printed and "| twin | attention | n/a" in printed
    report = json.loads((out / "results.json").read_text())
    rand, twin_result = report["results"]
    assert rand["protocol"] == "depth" and set(rand["readouts"]) == {"nn", "attention"}
    assert 0 < rand["readouts"]["nn"]["pooled"]["pairs"] <= 2 * 20 * 2
    assert set(rand["readouts"]["nn"]["per_view"]) <= {"1", "2"}
    assert "attention" in twin_result["skipped"] and set(twin_result["readouts"]) == {"nn"}
    assert (out / "results.md").read_text() in printed
    for name in ("rand", "twin"):
        assert Image.open(out / f"tracks_{name}.png").size[0] > 3 * 32


def test_the_attention_readouts_score_what_the_full_maps_score(tmp_path, monkeypatch):
    """The attention readouts read only view 0's part of every block's attention; cutting that part out of
    each block's full map instead (the path before ``source_view``) gives the same matches, bit for bit, and
    the same results."""
    import muskie.eval.correspondence as correspondence
    from muskie.eval.backbones import BlockOutputs
    from muskie.eval.backbones.muskie_backbone import MuskieFeatures
    from muskie.model import MuskieBackbone, SourceAttention

    predict, read_blocks, forward = correspondence._predict, MuskieFeatures.read_blocks, MuskieBackbone.forward
    matches, passes = [], []

    def recorded_predict(*args):
        matches[-1].append(predict(*args))
        return matches[-1][-1]

    def recorded_forward(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        passes[-1].append((out.attention, {block: a.source for block, a in out.source_attention.items()}))
        return out

    def from_full_maps(self, images, feature_blocks=(), attention_blocks=(), source_view=None):
        out = read_blocks(self, images, feature_blocks, attention_blocks)
        parts = {block: SourceAttention.of(a, source_view) for block, a in out.attention.items()}
        return BlockOutputs(features=out.features, attention={}, source_attention=parts)

    monkeypatch.setattr(correspondence, "_predict", recorded_predict)
    monkeypatch.setattr(MuskieBackbone, "forward", recorded_forward)
    options = ["--samples", "2", "--views", "4", "--size", "32", "48", "--queries", "20"]
    reports = []
    for path in ("source-view", "full-maps"):
        if path == "full-maps":
            monkeypatch.setattr(MuskieFeatures, "read_blocks", from_full_maps)
        matches.append([])
        passes.append([])
        out = tmp_path / path
        args = ["eval", "correspondence", "--backbone", "rand=random:tiny", "--out", str(out), *options]
        assert main([*args, "--readout", "attention", "attention-all", "nn"]) == 0
        reports.append(json.loads((out / "results.json").read_text())["results"])
    # one pass per sample, holding view 0's part of the tiny model's 4 blocks and no full map
    assert passes[0] == [({}, {0: 0, 1: 0, 2: 0, 3: 0})] * 2
    assert [sorted(full) for full, _ in passes[1]] == [[0, 1, 2, 3]] * 2
    for ours, theirs in zip(*matches, strict=True):
        assert ours.keys() == theirs.keys() == {"attention", "attention-all", "nn"}
        assert all(torch.equal(ours[readout], theirs[readout]) for readout in ours)
    assert len(matches[0]) == 2 and reports[0] == reports[1]
    assert reports[0][0]["readouts"]["attention-all"]["pooled"]["pairs"] > 0


def test_correspondence_readout_choice_and_errors(tmp_path, capsys):
    out = tmp_path / "corr"
    assert main(["eval", "correspondence", "--backbone", "random", "--readout", "nn", "--out", str(out), *SMALL]) == 0
    assert "attention" not in json.loads((out / "results.json").read_text())["results"][0]["readouts"]
    assert main(["eval", "correspondence", "--backbone", "nonsense:1", "--out", str(out), *SMALL]) == 2
    assert "unknown kind 'nonsense'" in capsys.readouterr().err
    assert main(["eval", "correspondence", "--backbone", "random", "--out", str(out), "--views", "1"]) == 2
    assert (
        main(["eval", "correspondence", "--backbone", "random", "--out", str(out), *SMALL[:4], "--size", "30", "30"])
        == 2
    )
    assert "patch size" in capsys.readouterr().err


def test_correspondence_on_a_real_scene(tmp_path, real_data, capsys):
    out = tmp_path / "real"
    code = main(
        [
            "eval",
            "correspondence",
            "--backbone",
            "random",
            "--scenes",
            str(real_data / "templeRing"),
            "--out",
            str(out),
            *SMALL,
        ]
    )
    assert code == 0
    result = json.loads((out / "results.json").read_text())["results"][0]
    assert result["protocol"] == "epipolar"
    pooled = result["readouts"]["attention"]["pooled"]
    assert pooled["pairs"] == 2 * 20 * 2 and pooled["epi_median_px"] >= 0
    assert "epi median px" in capsys.readouterr().out


def test_pca_figure_with_one_row_per_backbone(tmp_path, twin):
    out = tmp_path / "figures" / "pca.png"
    assert (
        main(
            [
                "pca",
                "--backbone",
                "random",
                "--backbone",
                f"muskie:{twin}",
                "--views",
                "3",
                "--size",
                "32",
                "32",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    one = tmp_path / "one.png"
    assert main(["pca", "--backbone", "random", "--views", "3", "--size", "32", "32", "--out", str(one)]) == 0
    assert Image.open(out).size[1] > Image.open(one).size[1]
    assert main(["pca", "--backbone", "random", "--out", str(tmp_path / "pca.jpg")]) == 2


def test_correspondence_bins_and_diagnostics(tmp_path, capsys):
    out = tmp_path / "diag"
    code = main(
        [
            "eval",
            "correspondence",
            "--backbone",
            "random",
            "--backbone",
            "identity",
            "--bins",
            "0",
            "2",
            "4",
            "--diagnostics",
            "--out",
            str(out),
            *SMALL,
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| scored by | pairs | median px | p90 px | 0-2 px | 2-4 px | 4+ px |" in printed
    assert "Same-cell share" in printed and "Shifted-copy test" in printed
    assert "| random init (tiny) | attention | x | 1 | 8 |" in printed
    assert "| identity (query pixel) | nn | x | 1 | 1 |" in printed
    report = json.loads((out / "results.json").read_text())
    assert report["settings"]["diagnostics"] and report["settings"]["config"]["displacement_bins"] == [0, 2, 4]
    rand, identity = report["results"]
    assert set(rand["diagnostics"]["same_cell"]) == {"0", "1", "2", "3"}
    assert identity["diagnostics"]["same_cell"] == {} and "attention" in identity["diagnostics"]["skipped"]
    assert all(line["same"] == 1.0 for line in identity["diagnostics"]["shifted_copy"])
    assert set(identity["readouts"]["nn"]["binned"]["displacement"]) == {"0-2", "2-4", "4+"}
    assert (out / "results.md").read_text() in printed
    assert main(["eval", "correspondence", "--backbone", "random", "--bins", "1", "2", "--out", str(out), *SMALL]) == 2
    assert "displacement_bins" in capsys.readouterr().err


def test_correspondence_on_a_synthetic_mixture_of_a_recipe(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "data:\n  synthetic_mix:\n    - {camera_path: orbit, overlap: 0.8, num_frames: 8}\n"
        "    - {camera_path: rig, principal_shift: 0.2}\n"
    )
    out = tmp_path / "mix"
    assert (
        main(
            [
                "eval",
                "correspondence",
                "--backbone",
                "identity",
                "--synthetic-mix",
                str(recipe),
                "--synthetic-split",
                "val",
                "--out",
                str(out),
                *SMALL,
            ]
        )
        == 0
    )
    settings = json.loads((out / "results.json").read_text())["settings"]
    assert settings["synthetic_split"] == "val" and settings["synthetic_mix"][0]["camera_path"] == "orbit"
    (tmp_path / "bad.yaml").write_text("synthetic_mix: 3\n")
    assert (
        main(
            [
                "eval",
                "correspondence",
                "--backbone",
                "identity",
                "--synthetic-mix",
                str(tmp_path / "bad.yaml"),
                "--out",
                str(out),
                *SMALL,
            ]
        )
        == 2
    )


def test_correspondence_on_the_navi_benchmark_pins_its_settings(tmp_path, capsys):
    from test_formats_navi import make_collection

    root = tmp_path / "navi"
    make_collection(root / "toy" / "multiview_00_pixel", (0, 7, 19, 33, 48, 60, 71, 80, 85))
    make_collection(root / "toy" / "wild_set", (0,))
    out = tmp_path / "corr"
    code = main(
        [
            "eval",
            "correspondence",
            "--benchmark",
            "navi",
            "--scenes",
            str(root),
            "--backbone",
            "random:tiny",
            "--size",
            "32",
            "32",
            "--views",
            "8",
            "--queries",
            "20",
            "--readout",
            "attention-all",
            "nn-multi",
            "--layers",
            "0",
            "-1",
            "--pool-view0",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    settings, result = report["settings"], report["results"][0]
    assert settings["benchmark"] == "navi" and settings["samples"] == 1
    assert "every 20th cluster" in settings["selection"]
    assert settings["config"]["pool_view0"] and settings["config"]["readouts"] == ["attention-all", "nn-multi"]
    assert settings["size"] == [32, 32] and settings["views"] == 8 and settings["config"]["num_queries"] == 20
    assert result["pool_view0"] and set(result["readouts"]) == {"attention-all", "nn-multi"}
    assert result["readout_settings"]["nn-multi"]["blocks"] == [0, 3]
    assert "0" in result["readouts"]["nn-multi"]["per_view"]  # view 0 pooled in
    header = (out / "results.md").read_text().splitlines()[0]
    assert header.startswith("Settings: NAVI") and "view 0 pooled in: yes" in header and "32x32 px, 8 views" in header
    assert header in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        main(
            [
                "eval",
                "correspondence",
                "--benchmark",
                "navi",
                "--scenes",
                str(empty),
                "--backbone",
                "identity",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "not a NAVI root" in capsys.readouterr().err


def test_correspondence_probe3d_protocol(tmp_path, capsys):
    out = tmp_path / "pairs"
    assert (
        main(
            [
                "eval",
                "correspondence",
                "--protocol",
                "probe3d",
                "--backbone",
                "random",
                "--out",
                str(out),
                "--matches",
                "50",
                *SMALL,
            ]
        )
        == 0
    )
    report = json.loads((out / "results.json").read_text())
    assert report["settings"]["protocol"] == "probe3d" and report["settings"]["config"]["num_matches"] == 50
    pooled = report["results"][0]["readouts"]["nn"]["pooled"]
    assert pooled["pairs"] == 2 * 2 and 0 < pooled["matches"] <= 4 * 50
    assert "probe3d protocol" in capsys.readouterr().out
    assert (
        main(
            [
                "eval",
                "correspondence",
                "--protocol",
                "probe3d",
                "--readout",
                "attention",
                "--backbone",
                "random",
                "--out",
                str(out),
                *SMALL,
            ]
        )
        == 2
    )
    assert "--readout must be among nn, nn-multi" in capsys.readouterr().err
