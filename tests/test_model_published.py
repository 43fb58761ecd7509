"""The readers of the files DINOv2, DINOv3, MAE and CroCo v2 publish (``muskie.model.published``).

Each test builds a tiny state_dict in the published key layout with random weights, saves it as the authors
save it, loads it through muskie's reader and compares with a plain float64 reference forward pass
(``published_vits.py``), on the training grid and on other grids (position-table resizing, RoPE on new grids).
"""

import json

import pytest
import torch
from published_vits import (
    DEPTH,
    PATCH,
    assert_matches,
    croco_checkpoint,
    dinov2_state,
    dinov3_state,
    mae_state,
    reference_croco,
    reference_dinov2,
    reference_dinov3,
    reference_mae,
)

from muskie.model.published import read_published_vit
from muskie.model.published.croco import read_croco
from muskie.model.published.dinov2 import read_dinov2
from muskie.model.published.dinov3 import read_dinov3
from muskie.model.published.layout import load_checked
from muskie.model.published.mae import read_mae
from muskie.model.published.plain_vit import PlainViT, PlainViTConfig


@pytest.mark.parametrize("registers, ffn", [(0, "mlp"), (4, "mlp"), (0, "swiglu_fused")])
def test_dinov2_matches_the_reference(tmp_path, registers, ffn):
    state = dinov2_state(registers=registers, ffn=ffn, hidden=96 if ffn != "mlp" else None)
    torch.save(state, tmp_path / "dinov2.pth")  # the hub files are bare state_dicts
    vit = read_dinov2(tmp_path / "dinov2.pth")
    assert len(vit.blocks) == DEPTH and vit.blocks[0].attn.num_heads == 2  # 64-channel heads
    assert vit.num_prefix == 1 + registers
    assert_matches(vit, lambda x: reference_dinov2(state, x, heads=2))


@pytest.mark.parametrize("storage, ffn, bias_mask", [(4, "mlp", True), (0, "swiglu", False)])
def test_dinov3_matches_the_reference(tmp_path, storage, ffn, bias_mask):
    state = dinov3_state(storage=storage, ffn=ffn, hidden=96 if ffn != "mlp" else None, bias_mask=bias_mask)
    torch.save(state, tmp_path / "dinov3.pth")
    vit = read_dinov3(tmp_path / "dinov3.pth")
    assert vit.blocks[0].attn.num_heads == 4  # head width 4 x 8 periods = 32
    assert_matches(vit, lambda x: reference_dinov3(state, x, heads=4))


def test_dinov3_bias_mask_zeroes_the_key_bias(tmp_path):
    state = dinov3_state()
    torch.save(state, tmp_path / "dinov3.pth")
    bias = read_dinov3(tmp_path / "dinov3.pth").blocks[0].attn.qkv.bias.detach()
    assert bias[128:256].abs().max() == 0 and bias[:128].abs().min() > 0


@pytest.mark.parametrize("decoder", [True, False])
def test_mae_matches_the_reference(tmp_path, decoder):
    state = mae_state(decoder=decoder)
    torch.save({"model": state}, tmp_path / "mae.pth")  # as main_pretrain.py saves it
    vit = read_mae(tmp_path / "mae.pth")
    assert vit.blocks[0].ls1 is None and vit.register_tokens is None
    assert_matches(vit, lambda x: reference_mae(state, x, heads=2))


@pytest.mark.parametrize("pos_embed", ["RoPE100", "cosine"])
def test_croco_matches_the_reference(tmp_path, pos_embed):
    checkpoint = croco_checkpoint(pos_embed=pos_embed)
    torch.save(checkpoint, tmp_path / "CroCo_V2.pth")
    vit = read_croco(tmp_path / "CroCo_V2.pth")
    assert vit.cls_token is None and vit.blocks[0].attn.num_heads == 4  # from croco_kwargs
    assert_matches(vit, lambda x: reference_croco(checkpoint, x))


def test_foreign_and_mismatched_files_give_one_clear_error(tmp_path):
    def saved(name, content):
        torch.save(content, tmp_path / name)
        return tmp_path / name

    with pytest.raises(FileNotFoundError, match="no such DINOv2 weights file"):
        read_dinov2(tmp_path / "missing.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="garbage.pth: "):
        read_mae(tmp_path / "garbage.pth")
    mae = saved("mae.pth", {"model": mae_state()})
    with pytest.raises(ValueError, match=r"mae_bare.pth: not a DINOv2 state_dict .*\(no 'blocks.0.ls1"):
        read_dinov2(saved("mae_bare.pth", mae_state(decoder=False)))
    with pytest.raises(ValueError, match="mae_bare.pth: not a DINOv3 state_dict .*no 'rope_embed.periods'"):
        read_dinov3(tmp_path / "mae_bare.pth")
    with pytest.raises(ValueError, match="mae.pth: not a DINOv3 state_dict .*no 'patch_embed.proj.weight'"):
        read_dinov3(mae)  # the official DINOv3 files are bare state_dicts
    with pytest.raises(ValueError, match="not a CroCo checkpoint"):
        read_croco(saved("dinov2.pth", dinov2_state()))
    with pytest.raises(ValueError, match="unexpected keys for a MAE state_dict: blocks.0.ls1.gamma"):
        read_mae(saved("dinov2_as_mae.pth", {k: v for k, v in dinov2_state().items() if k != "register_tokens"}))
    wrong = dinov2_state()
    wrong["blocks.1.attn.qkv.weight"] = wrong["blocks.1.attn.qkv.weight"][:-1]
    with pytest.raises(
        ValueError,
        match=r"wrong.pth: blocks.1.attn.qkv.weight has shape \(383, 128\), "
        r"expected \(384x128\)",
    ):
        read_dinov2(saved("wrong.pth", wrong))
    gap = {k: v for k, v in dinov2_state().items() if not k.startswith("blocks.0.")}
    with pytest.raises(ValueError, match=r"DINOv2 blocks are not numbered 0..1 \(missing \[0\]\)"):
        read_dinov2(saved("gap.pth", gap))
    odd = dinov2_state()
    odd["pos_embed"] = odd["pos_embed"][:, :8]
    with pytest.raises(ValueError, match="pos_embed holds 8 entries, not 1 \\+ a square grid"):
        read_dinov2(saved("odd.pth", odd))
    nan = mae_state()
    nan["norm.weight"][0] = float("nan")
    with pytest.raises(ValueError, match="norm.weight holds NaN"):
        read_mae(saved("nan.pth", {"model": nan}))
    checkpoint = croco_checkpoint()
    checkpoint["croco_kwargs"]["enc_depth"] = 12
    with pytest.raises(ValueError, match="croco_kwargs say width 128, depth 12, .* tensors hold width 128, depth 2"):
        read_croco(saved("croco_depth.pth", checkpoint))
    checkpoint = croco_checkpoint(pos_embed="learned")
    with pytest.raises(ValueError, match="neither 'cosine' nor 'RoPE<frequency>'"):
        read_croco(saved("croco_pos.pth", checkpoint))
    with pytest.raises(ValueError, match="width 100 is not a published DINOv2 size"):
        read_dinov2(saved("narrow.pth", dinov2_state(dim=100)))


def test_loading_shares_the_files_tensors_instead_of_copying_them(tmp_path):
    torch.save({"model": mae_state()}, tmp_path / "mae.pth")
    vit = read_mae(tmp_path / "mae.pth")
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in vit.parameters())
    tensors = {"weight": torch.ones(2, 3), "bias": torch.zeros(2)}
    model = load_checked(lambda: torch.nn.Linear(3, 2), tensors, "test")
    assert model.weight.data_ptr() == tensors["weight"].data_ptr()
    with pytest.raises(ValueError, match="do not fit the model"):
        load_checked(lambda: torch.nn.Linear(3, 2), {"weight": torch.ones(2, 3)}, "test")


@pytest.mark.parametrize(
    "family, content",
    [
        ("dinov2", dinov2_state(registers=4)),
        ("dinov3", dinov3_state()),
        ("mae", {"model": mae_state()}),
        ("croco", croco_checkpoint()),
        ("croco", croco_checkpoint(pos_embed="cosine")),
    ],
)
def test_the_config_rebuilds_the_architecture_without_the_file(tmp_path, family, content):
    torch.save(content, tmp_path / "vit.pth")
    vit = read_published_vit(family, tmp_path / "vit.pth")
    values = json.loads(json.dumps(vit.config.to_dict()))  # as a weights file's config.json holds it
    rebuilt = PlainViT(PlainViTConfig.from_dict(values))
    rebuilt.load_state_dict(vit.state_dict(), strict=True)
    x = torch.randn(2, 3, 5 * PATCH, 3 * PATCH, generator=torch.Generator().manual_seed(0))
    ours, theirs = vit.layers_out(x, [0, DEPTH - 1]), rebuilt.layers_out(x, [0, DEPTH - 1])
    for block in ours:
        assert torch.equal(ours[block], theirs[block])


def test_a_bad_config_is_refused_naming_the_field(tmp_path):
    torch.save(dinov2_state(), tmp_path / "vit.pth")
    good = read_dinov2(tmp_path / "vit.pth").config.to_dict()
    for change, match in [
        ({"depth": 0}, r"vit.depth: 0 is not a valid depth"),
        ({"layer_scale": 1}, r"vit.layer_scale: 1 is not a valid layer_scale"),
        ({"num_heads": True}, r"vit.num_heads: True"),
        ({"ffn": "relu"}, r"ffn must be one of mlp, swiglu_fused, swiglu"),
        ({"positions": {"kind": "table", "grid": 3}}, r"vit.positions: a 'table' position code takes"),
        ({"positions": {**good["positions"], "offset": float("nan")}}, r"vit.positions.offset: nan"),
        ({"positions": {"kind": "alibi"}}, r"vit.positions: 'kind' must be one of table"),
    ]:
        with pytest.raises(ValueError, match=match):
            PlainViTConfig.from_dict({**good, **change})
    with pytest.raises(ValueError, match=r"vit: a PlainViT config has the keys"):
        PlainViTConfig.from_dict({k: v for k, v in good.items() if k != "eps"})


def test_gradient_checkpointing_gives_the_same_gradients(tmp_path):
    torch.save(dinov3_state(), tmp_path / "vit.pth")
    x = torch.randn(2, 3, 3 * PATCH, 4 * PATCH, generator=torch.Generator().manual_seed(0))
    grads = []
    for checkpointing in (False, True):
        vit = read_dinov3(tmp_path / "vit.pth").train()
        vit.grad_checkpointing = checkpointing
        vit.layers_out(x, [DEPTH - 1])[DEPTH - 1].square().sum().backward()
        grads.append({name: p.grad for name, p in vit.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-5, atol=1e-6)
