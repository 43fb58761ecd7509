"""Outside backbones from the files their authors publish (DINOv2, DINOv3, MAE, CroCo v2) in the evaluations:
spec strings, the frame-wise wrapper on the Muskie grid, and the correspondence command. The readers
themselves are tested in ``test_model_published.py``."""

import json

import pytest
import torch
from published_vits import DEPTH, croco_checkpoint, dinov2_state, dinov3_state, mae_state

from muskie.cli.main import main
from muskie.eval.backbones import build_backbone
from muskie.eval.backbones.registry import published_argument


def test_spec_strings_run_each_family_on_the_muskie_grid(tmp_path):
    torch.save(dinov2_state(registers=4), tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    torch.save(dinov3_state(), tmp_path / "dinov3.pth")
    torch.save({"model": mae_state()}, tmp_path / "mae_pretrain_vit_base.pth")
    torch.save(croco_checkpoint(), tmp_path / "CroCo_V2_ViTBase_SmallDecoder.pth")
    views = torch.rand(1, 2, 3, 48, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for spec, label in [
        (f"dinov2:{tmp_path}/dinov2_vits14_reg4_pretrain.pth", "DINOv2 ViT-128/4 reg4"),
        (f"dinov3:{tmp_path}/dinov3.pth", "DINOv3 ViT-128/4"),
        (f"mae:{tmp_path}/mae_pretrain_vit_base.pth", "MAE ViT-128/4"),
        (f"croco:{tmp_path}/CroCo_V2_ViTBase_SmallDecoder.pth", "CroCo v2 ViT-128/4"),
    ]:
        backbone = build_backbone(spec)
        assert backbone.name.startswith(label) and not backbone.multi_view and backbone.depth == DEPTH
        assert backbone.grid_size(48, 32) == (3, 2)  # one cell per 16x16 pixels, as Muskie-B has
        out = backbone.read_blocks(views, feature_blocks=[0, -1])
        assert out.features[1].shape == (1, 2, 3, 2, 128) and out.attention == {}
        # the wrapper: [-1, 1] -> [0, 1] -> resized to the ViT's input (12 x 8 pixels) -> ImageNet statistics
        small = torch.nn.functional.interpolate((views[0] + 1) / 2, size=(12, 8), mode="bilinear", antialias=True)
        normalised = (small - backbone.mean) / backbone.std
        torch.testing.assert_close(out.features[1][0], backbone.vit.layers_out(normalised, [1])[1])
        with pytest.raises(ValueError, match="no cross-view attention"):
            backbone(views, with_attention=True)
        at_resolution = build_backbone(spec + "@16")
        assert at_resolution.grid_size(48, 32) == (6, 4)  # shorter side 16 pixels = 4 patches
    assert build_backbone(f"mine=mae:{tmp_path}/mae_pretrain_vit_base.pth").name == "mine"


def test_path_and_resolution_of_a_spec(tmp_path):
    assert published_argument("mae", "w/mae.pth") == ("w/mae.pth", None)
    assert published_argument("mae", "w/mae.pth@448") == ("w/mae.pth", 448)
    odd = tmp_path / "weights@2"
    odd.write_bytes(b"")
    assert published_argument("mae", str(odd)) == (str(odd), None)  # an existing path keeps its '@'
    with pytest.raises(ValueError, match=r"needs a path: croco:PATH\[@RESOLUTION\]"):
        build_backbone("croco")


def test_correspondence_command_reads_a_published_file(tmp_path, capsys):
    torch.save({"model": mae_state()}, tmp_path / "mae.pth")
    out = tmp_path / "corr"
    code = main(
        [
            "eval",
            "correspondence",
            "--backbone",
            f"mae=mae:{tmp_path / 'mae.pth'}",
            "--scenes",
            "synthetic",
            "--out",
            str(out),
            "--samples",
            "1",
            "--views",
            "2",
            "--size",
            "32",
            "32",
            "--queries",
            "10",
        ]
    )
    assert code == 0
    result = json.loads((out / "results.json").read_text())["results"][0]
    assert result["backbone"] == "mae" and set(result["readouts"]) == {"nn"}
    torch.save({"model": dinov2_state()}, tmp_path / "wrapped.pth")
    assert (
        main(
            [
                "eval",
                "correspondence",
                "--backbone",
                f"dinov2:{tmp_path / 'wrapped.pth'}",
                "--out",
                str(tmp_path / "corr2"),
                "--samples",
                "1",
                "--views",
                "2",
                "--size",
                "32",
                "32",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wrapped.pth: not a DINOv2 state_dict" in err[0]
