"""The peer models (MAE, MuM, CroCo): shapes, what may and may not reach a prediction, configs."""

import pytest
import torch

from muskie.model import MuskieConfig
from muskie.peers import CroCoModel, DecoderConfig, MAEModel, MuMModel, PeerModelConfig

CONFIG = PeerModelConfig(
    MuskieConfig(embed_dim=32, depth=1, num_heads=2, patch_size=4, cross_view=False),
    DecoderConfig(dim=16, depth=1, num_heads=2),
)


def make(cls, seed=0):
    torch.manual_seed(seed)
    return cls(CONFIG).eval()


def images(b=2, v=3, h=8, w=12, seed=1):
    return torch.rand(b, v, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


VISIBLE = torch.tensor([0, 2, 5]).expand(2, 3, 3)  # of the 2 x 3 = 6 patches; patch 1 (x 4..8, y 0..4) dropped


@pytest.mark.parametrize("cls", [MAEModel, MuMModel])
def test_autoencoders_predict_every_patch(cls):
    out = make(cls)(images(), VISIBLE)
    assert out.pred.shape == (2, 3, 6, 48)
    assert out.features.shape == (2, 3, 3, 32)
    assert torch.isfinite(out.pred).all()


@pytest.mark.parametrize("cls", [MAEModel, MuMModel, CroCoModel])
def test_dropped_pixels_cannot_reach_the_prediction(cls):
    model = make(cls)
    x = images()
    changed = x.clone()
    changed[:, :, :, 0:4, 4:8] = 3.0
    with torch.no_grad():
        if cls is CroCoModel:
            reference = images(seed=4)
            torch.testing.assert_close(model(changed, VISIBLE, reference).pred, model(x, VISIBLE, reference).pred)
        else:
            torch.testing.assert_close(model(changed, VISIBLE).pred, model(x, VISIBLE).pred)


def test_mae_keeps_views_apart_and_mum_decodes_across_them():
    x = images()
    changed = x.clone()
    changed[:, 1:] = images(seed=9)[:, 1:]
    with torch.no_grad():
        for cls, crosses in ((MAEModel, False), (MuMModel, True)):
            model = make(cls)
            view0, view0_changed = model(x, VISIBLE).pred[:, 0], model(changed, VISIBLE).pred[:, 0]
            # the encoder is frame-wise in both: view 0's features do not move
            torch.testing.assert_close(model(x, VISIBLE).features[:, 0], model(changed, VISIBLE).features[:, 0])
            assert torch.allclose(view0, view0_changed, atol=1e-6) != crosses, cls.__name__


def test_croco_reads_the_reference_view():
    model = make(CroCoModel)
    x = images(v=2)
    visible = VISIBLE[:, :2]
    with torch.no_grad():
        out = model(x, visible, images(v=2, seed=5))
        other = model(x, visible, images(v=2, seed=6))
    assert out.pred.shape == (2, 2, 6, 48) and out.features.shape == (2, 2, 3, 32)
    assert not torch.allclose(out.pred, other.pred, atol=1e-4)
    with pytest.raises(ValueError, match="references must have the images' shape"):
        model(x, visible, images(v=1))


@pytest.mark.parametrize("cls", [MAEModel, MuMModel, CroCoModel])
def test_config_round_trip_and_every_parameter_but_the_encoder_mask_token_trains(cls):
    model = make(cls)
    again = cls.from_config_dict(model.config_dict())
    assert again.config == model.config
    assert again.state_dict().keys() == model.state_dict().keys()
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen == ["encoder.mask_placeholder"]
    assert all(
        not k.startswith("encoder.") or k[len("encoder.") :] in model.encoder.state_dict() for k in model.state_dict()
    )


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="frame-wise"):
        PeerModelConfig(CONFIG.encoder.replace(cross_view=True))
    with pytest.raises(ValueError, match="multiple of 4"):
        DecoderConfig(dim=24, num_heads=4)
    with pytest.raises(ValueError, match="peer model config"):
        PeerModelConfig.from_dict({"encoder": CONFIG.encoder.to_dict()})
