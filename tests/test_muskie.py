"""Muskie end to end: a released-style state_dict, loaded through the public API, against an independent
float64 implementation of brief section 2 written here (plain matmuls, explicit softmax, own RoPE)."""

import math

import pytest
import torch

from muskie.model import PRESETS, BackboneOutput, Muskie, MuskieBackbone, MuskieConfig, create_model, parameter_counts
from muskie.model.patches import unpatchify

# Width 128 so that the released-file loader infers 4 heads from its preset table (tiny's width).
WIDTH, HEADS, DEPTH, PATCH, REGISTERS = 128, 4, 2, 4, 4


def released_state_dict(seed=0):
    """A random state_dict with exactly the names and shapes the brief lists for the released files."""
    g = torch.Generator().manual_seed(seed)
    e, p = WIDTH, PATCH

    def rand(*shape, scale=0.05):
        return torch.randn(*shape, generator=g) * scale

    sd = {
        "patch_embed.proj.weight": rand(e, 3, p, p, scale=0.1),
        "patch_embed.proj.bias": rand(e),
        "register_tokens": rand(1, 1, REGISTERS, e, scale=0.5),
        "mask_placeholder": rand(1, 1, 1, e, scale=0.5),
        "decoder_norm.weight": 1 + rand(e, scale=0.1),
        "decoder_norm.bias": rand(e),
        "decoder_pred.weight": rand(6 * p * p, e),
        "decoder_pred.bias": rand(6 * p * p),
    }
    for i in range(DEPTH):
        for n in range(1, 5):
            sd[f"blocks.{i}.norm{n}.weight"] = 1 + rand(e, scale=0.1)
            sd[f"blocks.{i}.norm{n}.bias"] = rand(e)
        for attn in ("frame_attn", "global_atten"):
            sd[f"blocks.{i}.{attn}.qkv.weight"] = rand(3 * e, e, scale=0.15)
            sd[f"blocks.{i}.{attn}.qkv.bias"] = rand(3 * e)
            sd[f"blocks.{i}.{attn}.proj.weight"] = rand(e, e, scale=0.1)
            sd[f"blocks.{i}.{attn}.proj.bias"] = rand(e)
        for mlp in ("frame_mlp", "global_mlp"):
            sd[f"blocks.{i}.{mlp}.fc1.weight"] = rand(4 * e, e, scale=0.1)
            sd[f"blocks.{i}.{mlp}.fc1.bias"] = rand(4 * e)
            sd[f"blocks.{i}.{mlp}.fc2.weight"] = rand(e, 4 * e, scale=0.05)
            sd[f"blocks.{i}.{mlp}.fc2.bias"] = rand(e)
    return sd


# ---------------------------------------------------------------- float64 reference
def ref_layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def ref_gelu(x):
    return 0.5 * x * (1 + torch.special.erf(x / math.sqrt(2)))


def ref_rotation(row, col, d):
    """(d, d) matrix rotating one head's channels at position (row, col): pair (j, j + d/4) of the first
    half turns by row * 100^(-2j/(d/2)), the same pairs of the second half by col."""
    rot = torch.zeros(d, d, dtype=torch.float64)
    half = d // 2
    for offset, pos in ((0, row), (half, col)):
        for j in range(half // 2):
            angle = pos * 100.0 ** (-2 * j / half)
            a, b = offset + j, offset + j + half // 2
            rot[a, a], rot[a, b] = math.cos(angle), -math.sin(angle)
            rot[b, a], rot[b, b] = math.sin(angle), math.cos(angle)
    return rot


def ref_attention(x, sd, prefix, rotations):
    """x (S, E) one attention group; rotations (S, D, D). Returns output (S, E), head-mean probs (S, S)."""
    s, e = x.shape
    d = e // HEADS
    qkv = x @ sd[f"{prefix}.qkv.weight"].T + sd[f"{prefix}.qkv.bias"]
    q, k, v = qkv[:, :e], qkv[:, e : 2 * e], qkv[:, 2 * e :]
    outs, probs = [], []
    for h in range(HEADS):
        qh = torch.einsum("sij,sj->si", rotations, q[:, h * d : (h + 1) * d])
        kh = torch.einsum("sij,sj->si", rotations, k[:, h * d : (h + 1) * d])
        scores = qh @ kh.T / math.sqrt(d)
        weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
        weights = weights / weights.sum(-1, keepdim=True)
        outs.append(weights @ v[:, h * d : (h + 1) * d])
        probs.append(weights)
    out = torch.cat(outs, -1) @ sd[f"{prefix}.proj.weight"].T + sd[f"{prefix}.proj.bias"]
    return out, torch.stack(probs).mean(0)


def ref_mlp(x, sd, prefix):
    hidden = ref_gelu(x @ sd[f"{prefix}.fc1.weight"].T + sd[f"{prefix}.fc1.bias"])
    return hidden @ sd[f"{prefix}.fc2.weight"].T + sd[f"{prefix}.fc2.bias"]


def reference_forward(sd, images, mask, cross_view=True):
    """One scene: images (V, 3, H, W), mask (V, H/p, W/p). Returns features per block (V, L, E), global
    attention per block (V*T, V*T) over all tokens, and the head output (V, L, 6p^2)."""
    sd = {k: t.double() for k, t in sd.items()}
    images = images.double()
    v, _, h, w = images.shape
    p, e, r = PATCH, WIDTH, REGISTERS
    gh, gw = h // p, w // p
    kernel = sd["patch_embed.proj.weight"].reshape(e, -1)
    tokens = torch.zeros(v, r + gh * gw, e, dtype=torch.float64)
    rotations = [ref_rotation(0, 0, e // HEADS)] * r
    for view in range(v):
        tokens[view, :r] = sd["register_tokens"][0, 0]
    for y in range(gh):
        for x in range(gw):
            rotations.append(ref_rotation(y + 1, x + 1, e // HEADS))
            patch = images[:, :, y * p : (y + 1) * p, x * p : (x + 1) * p].reshape(v, -1)
            for view in range(v):
                if mask[view, y, x]:
                    tokens[view, r + y * gw + x] = sd["mask_placeholder"][0, 0, 0]
                else:
                    tokens[view, r + y * gw + x] = kernel @ patch[view] + sd["patch_embed.proj.bias"]
    rotations = torch.stack(rotations)
    t = tokens.shape[1]
    features, attentions = [], []
    for i in range(DEPTH):
        pre = f"blocks.{i}"
        for view in range(v):
            xv = tokens[view]
            xv = (
                xv
                + ref_attention(
                    ref_layer_norm(xv, sd[f"{pre}.norm1.weight"], sd[f"{pre}.norm1.bias"]),
                    sd,
                    f"{pre}.frame_attn",
                    rotations,
                )[0]
            )
            xv = xv + ref_mlp(
                ref_layer_norm(xv, sd[f"{pre}.norm2.weight"], sd[f"{pre}.norm2.bias"]), sd, f"{pre}.frame_mlp"
            )
            tokens[view] = xv
        groups = [list(range(v))] if cross_view else [[view] for view in range(v)]
        attention = torch.zeros(v * t, v * t, dtype=torch.float64)
        for group in groups:
            xs = torch.cat([tokens[view] for view in group])
            normed = ref_layer_norm(xs, sd[f"{pre}.norm3.weight"], sd[f"{pre}.norm3.bias"])
            update, probs = ref_attention(normed, sd, f"{pre}.global_atten", rotations.repeat(len(group), 1, 1))
            xs = xs + update
            xs = xs + ref_mlp(
                ref_layer_norm(xs, sd[f"{pre}.norm4.weight"], sd[f"{pre}.norm4.bias"]), sd, f"{pre}.global_mlp"
            )
            idx = torch.cat([torch.arange(view * t, (view + 1) * t) for view in group])
            attention[idx[:, None], idx[None, :]] = probs
            for n, view in enumerate(group):
                tokens[view] = xs[n * t : (n + 1) * t]
        features.append(tokens[:, r:].clone())
        attentions.append(attention)
    head = ref_layer_norm(tokens[:, r:], sd["decoder_norm.weight"], sd["decoder_norm.bias"])
    head = head @ sd["decoder_pred.weight"].T + sd["decoder_pred.bias"]
    return features, attentions, head


def rel_err(actual, expected):
    return ((actual.double() - expected).abs().max() / expected.abs().max()).item()


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def scene():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 3, 12, 16, generator=g) * 2 - 1  # B=2, V=3, grid 3x4
    mask = torch.rand(2, 3, 3, 4, generator=g) < 0.4
    return images, mask


@pytest.mark.parametrize("wrapped", [True, False], ids=["training-checkpoint", "bare-state-dict"])
@pytest.mark.parametrize("cross_view", [True, False])
def test_released_checkpoint_matches_float64_reference(tmp_path, scene, wrapped, cross_view):
    sd = released_state_dict()
    path = tmp_path / "muskie.pth"
    torch.save({"model": sd, "epoch": 7} if wrapped else sd, path)
    model = Muskie.from_pretrained(path, cross_view=cross_view).eval()
    assert model.config == MuskieConfig(WIDTH, DEPTH, HEADS, patch_size=PATCH, cross_view=cross_view)

    images, mask = scene
    with torch.no_grad():
        out = model(images, mask, attention_blocks=[0, 1])
    r, t = REGISTERS, REGISTERS + 12
    for b in range(images.shape[0]):
        features, attentions, head = reference_forward(sd, images[b], mask[b], cross_view)
        for i in range(DEPTH):
            assert rel_err(out.features[i][b], features[i]) < 1e-5
            expected = attentions[i].view(3, t, 3, t)[:, r:, :, r:]
            assert (out.attention[i][b].double() - expected).abs().max() < 1e-6
        pixel_dim = 3 * PATCH * PATCH
        assert rel_err(out.pred[b], head[..., :pixel_dim]) < 1e-5
        assert rel_err(out.confidence[b], torch.sigmoid(head[..., pixel_dim:])) < 1e-5


def test_output_shapes_ranges_and_pixel_order():
    config = MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=4)
    model = Muskie(config)
    images = torch.rand(1, 2, 3, 8, 12) * 2 - 1
    out = model(images)
    assert out.pred.shape == out.confidence.shape == (1, 2, 6, 48)
    assert ((out.confidence > 0) & (out.confidence < 1)).all()
    torch.testing.assert_close(out.confidence, torch.sigmoid(out.confidence_logits))
    assert len(out.features) == 2 and out.attention == {}
    # pred is in patchify order, so unpatchify gives an image of the input's size
    assert unpatchify(out.pred, 4, 8, 12).shape == images.shape


def test_state_dict_has_exactly_the_released_names():
    model = Muskie(MuskieConfig(embed_dim=WIDTH, depth=DEPTH, num_heads=HEADS, patch_size=PATCH))
    ours = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    released = {k: tuple(t.shape) for k, t in released_state_dict().items()}
    assert ours == released


def test_mask_token_starts_at_zero_and_init_is_sane():
    model = Muskie(PRESETS["tiny"])
    assert torch.count_nonzero(model.mask_placeholder) == 0
    std = model.blocks[0].frame_attn.qkv.weight.std().item()
    assert 0.015 < std < 0.025
    assert torch.count_nonzero(model.blocks[0].frame_mlp.fc1.bias) == 0


@pytest.mark.parametrize(
    "name, millions", [("tiny", 1.66), ("small", 22.2), ("base", 86.8), ("large", 304.7), ("huge", 632.6)]
)
def test_preset_parameter_counts_match_the_brief(name, millions):
    backbone, total = parameter_counts(PRESETS[name])
    digits = 2 if name == "tiny" else 1
    assert round(total / 1e6, digits) == millions
    e = PRESETS[name].embed_dim
    head = e * 2 + (e + 1) * 2 * PRESETS[name].pixel_dim
    assert total - backbone == head


def test_create_model_presets_and_overrides():
    model = create_model("tiny", depth=2, cross_view=False)
    assert isinstance(model, Muskie)
    assert model.config.depth == 2 and not model.config.cross_view and model.config.embed_dim == 128
    with pytest.raises(ValueError, match="unknown preset"):
        create_model("gigantic")
    with pytest.raises(ValueError, match="unknown MuskieConfig fields: width"):
        create_model("tiny", width=3)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(embed_dim=30, depth=1, num_heads=4), "not divisible"),
        (dict(embed_dim=24, depth=1, num_heads=4), "multiple of 4"),
        (dict(embed_dim=32, depth=0, num_heads=2), "depth must be a positive integer"),
        (dict(embed_dim=32, depth=1, num_heads=2, mlp_ratio=0), "mlp_ratio"),
        (dict(embed_dim=32, depth=1, num_heads=2, rope_base=float("nan")), "rope_base: expected a finite number"),
        (dict(embed_dim=32, depth=1, num_heads=2, rope_base=float("inf")), "rope_base: expected a finite number"),
        (dict(embed_dim=32, depth=1, num_heads=2, mlp_ratio=float("nan")), "mlp_ratio: expected a finite number"),
        (dict(embed_dim=32, depth=1, num_heads=2, cross_view="no"), "cross_view: expected true or false"),
        (dict(embed_dim=32, depth=1, num_heads=2, grad_checkpointing=1), "grad_checkpointing: expected true or"),
        (dict(embed_dim=32, depth=2.0, num_heads=2), "depth: expected an integer"),
        (dict(embed_dim=32, depth=1, num_heads=2, num_registers=True), "num_registers: expected an integer"),
    ],
)
def test_config_rejects_bad_shapes(fields, message):
    with pytest.raises(ValueError, match=message):
        MuskieConfig(**fields)


def test_a_muskie_is_a_backbone_that_also_predicts_pixels():
    """Code written for a MuskieBackbone (token dropping, reading ``features``) takes a Muskie as it is."""
    torch.manual_seed(0)
    model = Muskie(MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=4)).eval()
    images = torch.rand(1, 2, 3, 8, 12) * 2 - 1
    visible = torch.tensor([[[0, 2, 5], [1, 3, 4]]])  # 3 of the 6 patches of each view
    with torch.no_grad():
        dropped = model(images, visible=visible)
        encoded = MuskieBackbone.forward(model, images, visible=visible)
    assert isinstance(dropped, BackboneOutput)
    assert dropped.pred.shape == dropped.confidence.shape == (1, 2, 3, 48), "the kept patches only"
    for ours, backbone in zip(dropped.features, encoded.features, strict=True):
        torch.testing.assert_close(ours, backbone)
