"""A published frame-wise ViT as the reconstruction model's encoder (``muskie.recon.encoders``): the features
against the float64 reference of the published layout, the model around it, training from the command line,
and saving and loading without the original file."""

import pytest
import torch
from cli_runner import run_cli
from fixtures import TINY_RECON_RUN
from published_vits import DEPTH, PATCH, dinov2_state, dinov3_state, reference_dinov2

from muskie.loading import load_model
from muskie.recon.config import ReconModelConfig, load_recon_config
from muskie.recon.encoders import ViTEncoder, parse_encoder, read_encoder
from muskie.recon.model import ReconModel, build_recon_model
from muskie.train.optim import build_optimizer
from muskie.weights import read_weights

HEADS = {"dpt_dim": 16, "camera_dim": 16}
# TINY_RECON_RUN: 3 views of 16x16 pixels, a 4x4 patch grid with the published layouts' 4-px patches


@pytest.fixture
def dinov2_file(tmp_path):
    path = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(dinov2_state(registers=4), path)
    return path


def test_encoder_features_match_the_reference_of_the_published_layout(tmp_path):
    state = dinov2_state(registers=4)
    torch.save(state, tmp_path / "dinov2.pth")
    encoder = read_encoder(f"dinov2:{tmp_path / 'dinov2.pth'}").double()
    assert (encoder.patch_size, encoder.embed_dim, encoder.num_heads, encoder.depth) == (PATCH, 128, 2, DEPTH)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 3, 5 * PATCH, 3 * PATCH, generator=generator, dtype=torch.float64) * 2 - 1
    features = encoder(images, [0, DEPTH - 1])
    # the reference sees what the authors' code sees: [0, 1] pixels normalised with ImageNet's statistics
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    expected = reference_dinov2(state, ((images.flatten(0, 1) + 1) / 2 - mean) / std, heads=2)
    for block in (0, DEPTH - 1):
        assert features[block].shape == (2, 3, 15, 128)
        torch.testing.assert_close(features[block], expected[block].unflatten(0, (2, 3)), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="not a multiple of the encoder's patch size 4"):
        encoder(images[..., :-1], [0])


def test_the_model_around_an_encoder(dinov2_file):
    torch.manual_seed(0)
    model = build_recon_model(ReconModelConfig(encoder=f"dinov2:{dinov2_file}", **HEADS)).eval()
    assert isinstance(model.backbone, ViTEncoder) and model.patch_size == PATCH
    assert model.head_layers == [0, 1, 2, 3]  # 2 encoder blocks + 2 new ones
    assert model.blocks[0].frame_attn.qkv.weight.shape == (3 * 128, 128)  # the new blocks at the encoder's width
    images = torch.rand(1, 3, 3, 12, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    out = model(images)
    assert out.local_points.shape == (1, 3, 12, 16, 3) and out.cam_to_world.shape == (1, 3, 4, 4)
    assert bool(torch.isfinite(out.points).all()) and bool((out.local_points[..., 2] > 0).all())
    order = torch.tensor([2, 0, 1])  # frame-wise encoder, reference-free decoder: still permutation-equivariant
    torch.testing.assert_close(model(images[:, order]).points, out.points[:, order], atol=1e-5, rtol=1e-4)


def test_a_frozen_encoder_is_left_out_of_the_optimiser(tmp_path):
    torch.save(dinov3_state(), tmp_path / "dinov3.pth")
    model = build_recon_model(ReconModelConfig(encoder=f"dinov3:{tmp_path / 'dinov3.pth'}", freeze_backbone=True))
    model.train()
    out = model(torch.rand(1, 2, 3, 12, 12) * 2 - 1)
    (out.points.sum() + out.confidence.sum()).backward()
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.point_head.parameters())
    optimised = {
        id(p) for group in build_optimizer(model, load_recon_config().optim).param_groups for p in group["params"]
    }
    assert optimised.isdisjoint(id(p) for p in model.backbone.parameters())
    assert {id(p) for p in model.camera_head.parameters()} <= optimised


def test_encoder_specs_and_conflicts_are_refused(dinov2_file, tmp_path, capsys):
    assert parse_encoder("mae:w/mae.pth") == ("mae", "w/mae.pth")
    for spec in ("vit:w.pth", "dinov2", "dinov2:"):
        with pytest.raises(ValueError, match="FAMILY:PATH with FAMILY one of dinov2, dinov3, mae, croco"):
            parse_encoder(spec)
    code, err = run_cli(
        ["recon", "train", "--out", tmp_path / "run", "--set", "model.encoder=vit:x.pth", *TINY_RECON_RUN], capsys
    )
    assert code == 2 and err.strip().splitlines() == [
        "muskie recon: error: model.encoder: an encoder is FAMILY:PATH with FAMILY one of dinov2, dinov3, mae, croco, "
        "got 'vit:x.pth'"
    ]
    both = ["--set", f"model.encoder=dinov2:{dinov2_file}", "--backbone-weights", dinov2_file]
    code, err = run_cli(["recon", "train", "--out", tmp_path / "run", *both, *TINY_RECON_RUN], capsys)
    assert code == 2 and "model.encoder and model.backbone_weights are both set" in err
    code, err = run_cli(
        [
            "recon",
            "train",
            "--out",
            tmp_path / "run",
            "--set",
            f"model.encoder=dinov2:{tmp_path / 'no.pth'}",
            *TINY_RECON_RUN,
        ],
        capsys,
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no.pth: no such DINOv2 weights file" in err
    size = ["--set", "data.size=[18, 16]"]
    code, err = run_cli(
        [
            "recon",
            "train",
            "--out",
            tmp_path / "run",
            "--set",
            f"model.encoder=dinov2:{dinov2_file}",
            *TINY_RECON_RUN,
            *size,
        ],
        capsys,
    )
    assert code == 2 and "data.size 18x16 is not a multiple of the model's patch size 4 (model.encoder dinov2:" in err


@pytest.mark.slow
def test_train_then_load_and_save_without_the_original_file(dinov2_file, tmp_path, capsys):
    run = tmp_path / "run"
    code, err = run_cli(
        ["recon", "train", "--out", run, "--steps", 2, "--set", f"model.encoder=dinov2:{dinov2_file}", *TINY_RECON_RUN],
        capsys,
    )
    assert code == 0, err
    weights = read_weights(run / "checkpoint-last.pt")
    assert weights.model_config["encoder"]["family"] == "dinov2"
    assert weights.model_config["encoder"]["source"] == "dinov2_vits14_reg4_pretrain.pth"  # the name, for the record
    dinov2_file.unlink()  # the saved model needs the file no more
    images = torch.rand(1, 3, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    model = load_model(run / "checkpoint-last.pt")
    exported = ReconModel.from_pretrained(run / "model")  # the finished run's folder
    assert isinstance(model.backbone, ViTEncoder) and exported.metadata == {"image_size": [16, 16]}
    expected = model(images).points
    torch.testing.assert_close(exported.eval()(images).points, expected)
    model.save_pretrained(tmp_path / "saved")
    again = load_model(tmp_path / "saved")
    torch.testing.assert_close(again(images).points, expected)
    # the fine-tuned encoder, not the file's, is what was saved: training moved its weights
    published = dinov2_state(registers=4)["blocks.0.attn.qkv.weight"]
    assert not torch.equal(model.backbone.vit.blocks[0].attn.qkv.weight, published)
    code, err = run_cli(
        ["recon", "eval", "--checkpoint", run / "model", "--out", tmp_path / "eval", "--samples", 1, "--views", 2]
        + ["--synthetic-scenes", 1, "--threads", 1, "--no-progress"],
        capsys,
    )
    assert code == 0, err


def test_a_config_that_does_not_fit_the_tensors_is_refused_before_building(dinov2_file, tmp_path):
    model = build_recon_model(ReconModelConfig(encoder=f"dinov2:{dinov2_file}", **HEADS))
    model.save_pretrained(tmp_path / "saved")
    config_file = tmp_path / "saved" / "config.json"
    text = config_file.read_text()
    config_file.write_text(text.replace('"depth": 2', '"depth": 5', 1))
    with pytest.raises(ValueError, match=r"encoder depth 5 but the weights have 2 blocks"):
        load_model(tmp_path / "saved")
