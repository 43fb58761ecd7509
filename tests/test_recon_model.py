import pytest
import torch

from muskie import create_model
from muskie.geometry import relative_poses
from muskie.model import MuskieBackbone
from muskie.model.config import preset_config
from muskie.recon.config import ReconModelConfig
from muskie.recon.model import ReconModel, build_recon_model, default_head_layers

TINY = dict(embed_dim=32, depth=2, num_heads=2, patch_size=8)


def tiny_model(**config):
    torch.manual_seed(0)
    backbone = MuskieBackbone(preset_config("tiny", **TINY))
    return ReconModel(backbone, ReconModelConfig(dpt_dim=16, camera_dim=16, **config)).eval()


def test_output_shapes_and_conventions():
    model = tiny_model()
    images = torch.rand(2, 3, 3, 16, 24) * 2 - 1
    out = model(images)
    assert out.local_points.shape == out.points.shape == (2, 3, 16, 24, 3)
    assert out.confidence.shape == out.confidence_logits.shape == (2, 3, 16, 24)
    assert out.cam_to_world.shape == (2, 3, 4, 4)
    assert bool((out.local_points[..., 2] > 0).all()), "depth = exp(.) is positive"
    assert bool(((out.confidence > 0) & (out.confidence < 1)).all())
    rotation = out.cam_to_world[..., :3, :3]
    torch.testing.assert_close(
        rotation @ rotation.transpose(-1, -2), torch.eye(3).expand(2, 3, 3, 3), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(2, 3), atol=1e-5, rtol=0)
    translation = out.cam_to_world[:, :, None, None, :3, 3]
    expected = (rotation[:, :, None, None] @ out.local_points[..., None])[..., 0] + translation
    torch.testing.assert_close(out.points, expected)


def test_permuting_views_permutes_every_output():
    model = tiny_model()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(1, 4, 3, 16, 16, generator=g) * 2 - 1
    order = torch.tensor([2, 0, 3, 1])
    out = model(images)
    permuted = model(images[:, order])
    for name in ("local_points", "confidence", "cam_to_world", "points"):
        torch.testing.assert_close(getattr(permuted, name), getattr(out, name)[:, order], atol=1e-5, rtol=1e-4)
    # so relative poses, the frame-free quantity the loss and metrics compare, are permuted too
    torch.testing.assert_close(
        relative_poses(permuted.cam_to_world),
        relative_poses(out.cam_to_world)[:, order][:, :, order],
        atol=1e-5,
        rtol=1e-4,
    )


def test_default_head_layers_and_bad_choices():
    assert default_head_layers(4) == [0, 1, 2, 3]
    assert default_head_layers(8) == [1, 3, 5, 7]
    assert tiny_model().head_layers == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="head_layers"):
        tiny_model(head_layers=[0, 1, 2, 9])
    with pytest.raises(ValueError, match="4 blocks"):
        tiny_model(new_blocks=1)


def test_frozen_backbone_gets_no_gradients_and_the_rest_does():
    model = tiny_model(freeze_backbone=True).train()
    out = model(torch.rand(1, 2, 3, 16, 16) * 2 - 1)
    (out.points.sum() + out.confidence.sum()).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.point_head.parameters())
    assert model.blocks[0].global_atten.qkv.weight.grad is not None


def test_backbone_weights_load_from_a_pretrained_folder(tmp_path):
    pretrained = create_model("tiny", **TINY, cross_view=False)
    pretrained.save_pretrained(tmp_path / "muskie")
    model = build_recon_model(ReconModelConfig(backbone_weights=str(tmp_path / "muskie"), dpt_dim=16, camera_dim=16))
    assert model.backbone.config.cross_view, "every start fine-tunes the same (cross-view) architecture"
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, pretrained.state_dict()[name]), name
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        build_recon_model(ReconModelConfig(backbone_weights=str(tmp_path / "nothing-here")))


def test_default_configs_are_not_shared_between_models():
    """The config is mutable and the model keeps it: a default one is made per model."""
    backbone = MuskieBackbone(preset_config("tiny", **TINY))
    first, second = ReconModel(backbone), build_recon_model()
    assert first.config == second.config == ReconModelConfig()
    assert first.config is not second.config
