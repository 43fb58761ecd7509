"""MuskieBackbone behaviour: views, sizes, masking, token dropping, attention maps, checkpointing, input errors."""

import pytest
import torch

from muskie.model import Muskie, MuskieBackbone, MuskieConfig, SourceAttention
from muskie.model.layers import attention_maps
from muskie.model.layers.rope import apply_rope, rope_tables, token_positions

CONFIG = MuskieConfig(embed_dim=32, depth=2, num_heads=2, patch_size=4)


def make_backbone(**overrides):
    torch.manual_seed(0)
    model = MuskieBackbone(CONFIG.replace(**overrides)).eval()
    with torch.no_grad():  # a non-zero mask token, so that masking is visible
        model.mask_placeholder.normal_()
    return model


def images(b=2, v=3, h=8, w=12, seed=1):
    return torch.rand(b, v, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_features_of_every_block_without_registers():
    out = make_backbone()(images())
    assert len(out.features) == 2
    assert all(f.shape == (2, 3, 6, 32) for f in out.features)
    assert out.attention == {}


def test_permutation_equivariance_over_views():
    model = make_backbone()
    x = images(v=4)
    mask = torch.rand(2, 4, 2, 3, generator=torch.Generator().manual_seed(2)) < 0.5
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        out = model(x, mask, attention_blocks=[1])
        permuted = model(x[:, perm], mask[:, perm], attention_blocks=[1])
    for a, b in zip(out.features, permuted.features, strict=True):
        torch.testing.assert_close(a[:, perm], b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.attention[1][:, perm][:, :, :, perm], permuted.attention[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cross_view", [True, False])
def test_cross_view_false_keeps_views_independent(cross_view):
    model = make_backbone(cross_view=cross_view)
    x = images()
    changed = x.clone()
    changed[:, 1:] = images(seed=9)[:, 1:]
    with torch.no_grad():
        view0 = model(x).features[-1][:, 0]
        view0_changed = model(changed).features[-1][:, 0]
        view0_alone = model(x[:, :1]).features[-1][:, 0]
    if cross_view:
        assert not torch.allclose(view0, view0_changed, atol=1e-4)
    else:
        torch.testing.assert_close(view0, view0_changed)
        torch.testing.assert_close(view0, view0_alone, rtol=1e-5, atol=1e-5)


def test_frame_wise_attention_maps_are_block_diagonal():
    model = make_backbone(cross_view=False)
    attention = model(images(), attention_blocks=[0]).attention[0]
    off_diagonal = attention.clone()
    for v in range(3):
        off_diagonal[:, v, :, v] = 0
    assert torch.count_nonzero(off_diagonal) == 0
    assert (attention[:, 1, :, 1].sum(-1) > 0).all()


@pytest.mark.parametrize("v, h, w", [(1, 4, 4), (1, 12, 20), (5, 20, 8)])
def test_any_view_count_and_odd_grids(v, h, w):
    out = make_backbone()(images(b=1, v=v, h=h, w=w), attention_blocks=[0])
    length = (h // 4) * (w // 4)
    assert out.features[-1].shape == (1, v, length, 32)
    assert out.attention[0].shape == (1, v, length, v, length)
    assert torch.isfinite(out.features[-1]).all()


def test_masked_patches_enter_as_the_mask_token():
    model = make_backbone()
    x = images()
    mask = torch.zeros(2, 3, 2, 3, dtype=torch.bool)
    mask[0, 1, 0, 2] = mask[1, 2, 1, 0] = mask[1, 0, 0, 0] = True
    seen = {}
    handle = model.blocks[0].register_forward_pre_hook(lambda module, args: seen.update(tokens=args[0]))
    with torch.no_grad():
        out = model(x, mask)
    handle.remove()
    patch_tokens = seen["tokens"][:, :, model.config.num_registers :]  # (B, V, L, E)
    flat = mask.flatten(2)
    torch.testing.assert_close(patch_tokens[flat], model.mask_placeholder[0, 0].expand(3, -1))
    torch.testing.assert_close(patch_tokens[~flat], model.patch_embed(x.flatten(0, 1)).view(2, 3, 6, 32)[~flat])
    # the pixels under a masked patch cannot reach the output
    scrambled = x.clone()
    scrambled[0, 1, :, 0:4, 8:12] = 5.0
    with torch.no_grad():
        torch.testing.assert_close(model(scrambled, mask).features[-1], out.features[-1])


def test_attention_maps_are_probabilities_and_do_not_change_features():
    model = make_backbone()
    x = images()
    with torch.no_grad():
        plain = model(x)
        out = model(x, attention_blocks=[0, 1])
    for a, b in zip(plain.features, out.features, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for attention in out.attention.values():
        rows = attention.sum(dim=(-2, -1))  # (B, V, L): mass on patch tokens of all views
        assert (attention >= 0).all()
        assert (rows <= 1 + 1e-6).all() and (rows < 1 - 1e-4).any()  # registers take the rest


@pytest.mark.parametrize("source_view", [None, 1])
@pytest.mark.parametrize("bf16", [False, True])
def test_gradient_checkpointing_gives_identical_gradients(source_view, bf16):
    """Also under bf16 autocast, where the recomputed attention must take the same (float32) path on a CPU."""
    x = images()
    mask = torch.rand(2, 3, 2, 3, generator=torch.Generator().manual_seed(4)) < 0.5

    def loss(model):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, mask, attention_blocks=[1], source_view=source_view)
        maps = out.attention[1] if source_view is None else out.source_attention[1].incoming
        return out.pred.square().mean() + maps.square().sum()

    assert_checkpointing_keeps_gradients(loss)


def assert_checkpointing_keeps_gradients(loss):
    """``loss(model)`` of a fresh :class:`Muskie` (seed 0) has the same gradients with and without gradient
    checkpointing."""
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = Muskie(CONFIG.replace(grad_checkpointing=checkpointing)).train()
        loss(model).backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-7, msg=name)


def test_set_grad_checkpointing_toggles_the_config():
    model = make_backbone()
    model.set_grad_checkpointing(True)
    assert model.config.grad_checkpointing


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 3, 3, 8, 10), "multiples of the patch size 4"),
        ((2, 3, 8, 12), r"\(B, V, 3, H, W\)"),
        ((2, 3, 1, 8, 12), r"\(B, V, 3, H, W\)"),
    ],
)
def test_bad_images_raise_clear_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        make_backbone()(torch.zeros(shape))


def test_bad_masks_and_block_indices_raise_clear_errors():
    model = make_backbone()
    x = images()
    with pytest.raises(ValueError, match=r"expected \(B, V, H/p, W/p\) = \(2, 3, 2, 3\)"):
        model(x, torch.zeros(2, 3, 3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool tensor"):
        model(x, torch.zeros(2, 3, 2, 3))
    with pytest.raises(ValueError, match=r"block indices in 0\.\.1, got 2"):
        model(x, attention_blocks=[2])
    with pytest.raises(ValueError, match="floating point"):
        model(torch.zeros(2, 3, 3, 8, 12, dtype=torch.uint8))


def test_bf16_autocast_runs():
    model = make_backbone()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(images(), attention_blocks=[0])
    assert torch.isfinite(out.features[-1].float()).all()
    assert out.attention[0].shape == (2, 3, 6, 3, 6)


def attend_with_key_mask(layer, x, cos, sin, key_ok, maps=None):
    """float64 reference attention over every token of ``x (N, S, E)``, keys outside ``key_ok (N, S)`` masked
    out of the softmax, with an explicit softmax over every head's full score matrix; ``maps``, a list: the
    head-averaged probabilities ``(N, S, S)`` appended to it."""
    n, s, e = x.shape
    q, k, v = (x @ layer.qkv.weight.T + layer.qkv.bias).view(n, s, 3, layer.num_heads, layer.head_dim).unbind(2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (N, heads, S, D)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    scores = (q @ k.transpose(-1, -2)) / layer.head_dim**0.5
    scores = scores.masked_fill(~key_ok[:, None, None, :], float("-inf"))
    probabilities = scores.softmax(-1)
    if maps is not None:
        maps.append(probabilities.mean(dim=1))
    out = (probabilities @ v).transpose(1, 2).reshape(n, s, e)
    return out @ layer.proj.weight.T + layer.proj.bias


def full_model_with_attention_mask(model, x, keep, shift=None, maps=None):
    """Every token through every block, in float64, with the dropped patches hidden from every attention as
    keys: the visible tokens' features must be those of token dropping. ``shift (B, V, 2)``: each view's
    patch positions moved by it (registers stay at (0, 0)), one position table per view. ``maps``, a list
    (cross-view models): each block's global attention ``(B, V * T, V * T)`` appended to it."""
    c = model.config
    b, v, _, h, w = x.shape
    tokens = model.patch_embed(x.flatten(0, 1)).unflatten(0, (b, v))
    t = c.num_registers + tokens.shape[2]
    state = torch.cat([model.register_tokens.expand(b, v, -1, -1), tokens], dim=2)
    key_ok = torch.cat([torch.ones(b, v, c.num_registers, dtype=torch.bool), keep], dim=2)
    positions = token_positions(h // c.patch_size, w // c.patch_size, c.num_registers).repeat(b, v, 1, 1)
    if shift is not None:
        for scene_index in range(b):
            for view in range(v):
                positions[scene_index, view, c.num_registers :] += shift[scene_index, view]
    cos, sin = rope_tables(positions, c.head_dim, c.rope_base, dtype=torch.float64)  # (B, V, T, D)
    for block in model.blocks:
        frames = state.reshape(b * v, t, -1)
        frame_cos, frame_sin = cos.reshape(b * v, 1, t, -1), sin.reshape(b * v, 1, t, -1)
        frames = frames + attend_with_key_mask(
            block.frame_attn, block.norm1(frames), frame_cos, frame_sin, key_ok.reshape(b * v, t)
        )
        frames = frames + block.frame_mlp(block.norm2(frames))
        if c.cross_view:  # one sequence per scene, each view's tokens at its own positions
            scene, ok = frames.reshape(b, v * t, -1), key_ok.reshape(b, v * t)
            scene_cos, scene_sin = cos.reshape(b, 1, v * t, -1), sin.reshape(b, 1, v * t, -1)
        else:
            scene, ok, scene_cos, scene_sin = frames, key_ok.reshape(b * v, t), frame_cos, frame_sin
        scene = scene + attend_with_key_mask(block.global_atten, block.norm3(scene), scene_cos, scene_sin, ok, maps)
        scene = scene + block.global_mlp(block.norm4(scene))
        state = scene.reshape(b, v, t, -1)
    return state[:, :, c.num_registers :]


@pytest.mark.parametrize("cross_view", [False, True])
def test_token_dropping_equals_the_full_model_with_an_attention_mask(cross_view):
    model = make_backbone(cross_view=cross_view).double()
    x = images(v=3, h=12, w=16).double()  # 3 x 4 = 12 patches
    generator = torch.Generator().manual_seed(5)
    visible = torch.stack([torch.randperm(12, generator=generator)[:5].sort().values for _ in range(6)]).view(2, 3, 5)
    keep = torch.zeros(2, 3, 12, dtype=torch.bool).scatter(2, visible, True)
    with torch.no_grad():
        dropped = model(x, visible=visible, attention_blocks=[1])
        expected = full_model_with_attention_mask(model, x, keep)
    assert len(dropped.features) == 2 and dropped.features[-1].shape == (2, 3, 5, 32)
    torch.testing.assert_close(
        dropped.features[-1], expected.gather(2, visible[..., None].expand(-1, -1, -1, 32)), rtol=1e-10, atol=1e-10
    )
    assert dropped.attention[1].shape == (2, 3, 5, 3, 5)


@pytest.mark.parametrize("dropping", [False, True])
def test_position_shifts_match_a_reference_with_per_view_positions(dropping):
    model = make_backbone(num_registers=2).double()
    x = images(v=3, h=12, w=16).double()  # 3 x 4 = 12 patches
    shift = torch.tensor([[[0, 0], [3, 1], [0, 7]], [[2, 2], [0, 0], [5, 0]]])
    keep = torch.ones(2, 3, 12, dtype=torch.bool)
    visible = None
    if dropping:
        generator = torch.Generator().manual_seed(5)
        visible = torch.stack([torch.randperm(12, generator=generator)[:5].sort().values for _ in range(6)])
        visible = visible.view(2, 3, 5)
        keep = torch.zeros(2, 3, 12, dtype=torch.bool).scatter(2, visible, True)
    with torch.no_grad():
        shifted = model(x, visible=visible, position_shift=shift).features[-1]
        expected = full_model_with_attention_mask(model, x, keep, shift)
        plain = model(x, visible=visible).features[-1]
    if dropping:
        expected = expected.gather(2, visible[..., None].expand(-1, -1, -1, 32))
    torch.testing.assert_close(shifted, expected, rtol=1e-10, atol=1e-10)
    assert (shifted - plain).abs().max() > 1e-5  # views no longer share positions (1e-10 would be noise)


def test_one_shift_for_every_view_changes_nothing_without_registers():
    """RoPE sees relative positions only: moving every patch of every view by the same cells is invisible
    (registers, which stay at (0, 0), are the one absolute reference)."""
    model = make_backbone(num_registers=0).double()
    x = images().double()
    same = torch.tensor([4, 9]).expand(2, 3, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x, position_shift=same).features[-1], model(x).features[-1], rtol=1e-10, atol=1e-10
        )
    with pytest.raises(ValueError, match=r"position_shift must be an int64 tensor of shape \(B, V, 2\)"):
        model(x, position_shift=torch.zeros(2, 3, dtype=torch.long))


def test_keeping_every_patch_is_the_plain_forward():
    model = make_backbone()
    x = images()
    everything = torch.arange(6).expand(2, 3, 6)
    with torch.no_grad():
        plain, dropped = model(x), model(x, visible=everything)
    for a, b in zip(plain.features, dropped.features, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_dropped_patches_cannot_reach_the_output():
    model = make_backbone(cross_view=False)
    x = images()
    visible = torch.tensor([0, 2, 5]).expand(2, 3, 3)
    changed = x.clone()
    changed[:, :, :, 0:4, 4:8] = 3.0  # patch 1, dropped everywhere
    with torch.no_grad():
        torch.testing.assert_close(model(changed, visible=visible).features[-1], model(x, visible=visible).features[-1])


def test_bad_visible_indices_raise_clear_errors():
    model = make_backbone()
    x = images()
    with pytest.raises(ValueError, match="not both"):
        model(x, torch.zeros(2, 3, 2, 3, dtype=torch.bool), visible=torch.zeros(2, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="int64"):
        model(x, visible=torch.zeros(2, 3, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"1 <= N <= L = 6"):
        model(x, visible=torch.zeros(2, 3, 7, dtype=torch.long))


def patch_maps(full, registers, visible):
    """A reference's ``(B, V * T, V * T)`` map as the backbone returns it: ``(B, V, N, V, N)`` between the kept
    patches ``visible (B, V, N)`` (all of them when None), registers left out."""
    b, v = visible.shape[:2]
    t = full.shape[-1] // v
    patches = full.view(b, v, t, v, t)[:, :, registers:, :, registers:]  # (B, V, L, V, L)
    n, length = visible.shape[2], patches.shape[2]
    rows = patches.gather(2, visible[:, :, :, None, None].expand(b, v, n, v, length))
    return rows.gather(4, visible[:, None, None].expand(b, v, n, v, n))


@pytest.mark.parametrize(
    "registers, v, h, w, dropping",
    [
        (4, 3, 8, 12, False),  # 2 x 3 patches
        (0, 3, 8, 12, False),  # no registers: rows sum to 1
        (2, 5, 12, 8, False),  # 3 x 2 patches, five views
        (4, 2, 12, 16, True),  # token dropping: 5 of 3 x 4 patches
        (1, 4, 12, 16, True),
    ],
)
def test_source_view_attention_is_the_full_maps_part_in_float64(monkeypatch, registers, v, h, w, dropping):
    """Against an explicit float64 softmax over every head's full score matrix, computed in several blocks
    of queries that straddle the views: the rows of each source view's queries and the columns of its keys,
    and the same features with no maps, full maps or a source view's part."""
    length = (h // 4) * (w // 4)
    tokens = registers + (5 if dropping else length)  # per view
    monkeypatch.setattr(attention_maps, "CHUNK_ELEMENTS", 2 * 2 * 7 * v * tokens)  # 7 queries a block
    model = make_backbone(num_registers=registers).double()
    x = images(v=v, h=h, w=w).double()
    if dropping:
        generator = torch.Generator().manual_seed(3)
        visible = torch.stack([torch.randperm(length, generator=generator)[:5].sort().values for _ in range(2 * v)])
        visible = visible.view(2, v, 5)
    else:
        visible = torch.arange(length).expand(2, v, -1)
    keep = torch.zeros(2, v, length, dtype=torch.bool).scatter(2, visible, True)
    reference = []
    with torch.no_grad():
        full_model_with_attention_mask(model, x, keep, maps=reference)
        kept = visible if dropping else None
        plain = model(x, visible=kept)
        full = model(x, attention_blocks=[0, 1], visible=kept)
        for block in (0, 1):
            expected = patch_maps(reference[block], registers, visible)
            torch.testing.assert_close(full.attention[block], expected, rtol=0, atol=1e-12)
        for source in range(v):
            part = model(x, attention_blocks=[0, 1], visible=kept, source_view=source)
            assert part.attention == {} and sorted(part.source_attention) == [0, 1]
            for a, b, c in zip(plain.features, full.features, part.features, strict=True):
                assert torch.equal(a, b) and torch.equal(a, c)
            kept_patches = visible.shape[2]
            for block in (0, 1):
                got, expected = part.source_attention[block], SourceAttention.of(full.attention[block], source)
                assert got.source == source
                assert got.outgoing.shape == got.incoming.shape == (2, kept_patches, v, kept_patches)
                torch.testing.assert_close(got.outgoing, expected.outgoing, rtol=0, atol=1e-12)
                torch.testing.assert_close(got.incoming, expected.incoming, rtol=0, atol=1e-12)


def test_source_view_attention_of_a_frame_wise_model_is_its_own_view_only():
    model = make_backbone(cross_view=False).double()
    x = images(v=3).double()
    with torch.no_grad():
        full = model(x, attention_blocks=[1]).attention[1]
        part = model(x, attention_blocks=[1], source_view=2).source_attention[1]
    expected = SourceAttention.of(full, 2)
    assert torch.equal(part.outgoing, expected.outgoing) and torch.equal(part.incoming, expected.incoming)
    assert (part.outgoing[:, :, :2] == 0).all() and (part.outgoing[:, :, 2].sum(-1) > 0).all()


def test_source_view_attention_holds_2_L_V_L_values_per_block_instead_of_the_full_map():
    """What the readouts keep per block and scene: ``2 * L * V * L`` values (``L`` patches, ``V`` views), one
    ``(2, T, V, T)`` tensor with the registers (``T = R + L``), where the full map holds ``(V * T)^2``."""
    model = make_backbone()
    x = images(b=1, v=4, h=8, w=12)  # L = 6 patches, T = 4 registers + 6
    views, length, tokens = 4, 6, 10
    with torch.no_grad():
        full = model(x, attention_blocks=[0, 1])
        part = model(x, attention_blocks=[0, 1], source_view=1)
    for block in (0, 1):
        kept = part.source_attention[block]
        assert kept.outgoing.numel() + kept.incoming.numel() == 2 * length * views * length
        assert full.attention[block].numel() == (views * length) ** 2
        storage = kept.outgoing.untyped_storage()
        assert storage.data_ptr() == kept.incoming.untyped_storage().data_ptr()
        assert storage.nbytes() == 2 * tokens * views * tokens * 4
        assert full.attention[block].untyped_storage().nbytes() == (views * tokens) ** 2 * 4


@pytest.mark.parametrize("source_view", [3, -1, True, 1.0])
def test_bad_source_views_raise_clear_errors(source_view):
    with pytest.raises(ValueError, match=r"source_view must be a view index in 0\.\.2"):
        make_backbone()(images(), attention_blocks=[0], source_view=source_view)


def test_leading_blocks_share_the_parameters_and_give_the_first_features():
    model = Muskie(CONFIG.replace(depth=3)).eval()
    part = model.leading_blocks(2)
    assert type(part) is MuskieBackbone and part.config.depth == 2 and not part.training
    x = images()
    full, leading = model(x).features, part(x).features
    assert len(leading) == 2 and all(torch.equal(a, b) for a, b in zip(full[:2], leading, strict=True))
    assert part.blocks[1].frame_attn.qkv.weight is model.blocks[1].frame_attn.qkv.weight
    with torch.no_grad():  # the same tensors: a change to the model is a change to its part
        model.blocks[0].frame_attn.qkv.weight.add_(1.0)
        model.patch_embed.proj.weight.mul_(2.0)
    assert all(torch.equal(a, b) for a, b in zip(model(x).features[:2], part(x).features, strict=True))
    assert not any(name.startswith(("decoder_", "blocks.2.")) for name in part.state_dict())


@pytest.mark.parametrize("depth", [0, 4, 1.0, True])
def test_leading_blocks_refuse_a_bad_depth(depth):
    with pytest.raises(ValueError, match=r"depth must be a block count in 1\.\.3"):
        Muskie(CONFIG.replace(depth=3)).leading_blocks(depth)


def kept_patches(mask):
    """The row-major indices of each view's unmasked patches, ``(B, V, N)``: ``visible`` of token dropping."""
    b, v = mask.shape[:2]
    return (~mask.flatten(2)).nonzero()[:, 2].reshape(b, v, -1)


@pytest.mark.parametrize("cross_view", [True, False])
def test_hidden_mask_tokens_give_the_features_of_token_dropping(cross_view):
    """With ``hide_masked`` the registers and visible patches compute exactly what the same model computes
    with the masked patches dropped (float64), whatever the mask token holds."""
    model = make_backbone(cross_view=cross_view).double()
    x = images().double()
    mask = torch.zeros(2, 3, 6, dtype=torch.bool)
    for scene, view, cells in ((0, 0, [1, 4]), (0, 1, [0, 5]), (0, 2, [2, 3]), (1, 0, [0, 1]), (1, 1, [3, 4])):
        mask[scene, view, cells] = True
    mask[1, 2, [2, 5]] = True  # two masked patches in every view: token dropping needs equal counts
    mask = mask.view(2, 3, 2, 3)
    visible = kept_patches(mask)
    dropped = model(x, visible=visible).features
    hidden = model(x, mask, hide_masked=True).features
    index = visible[..., None].expand(-1, -1, -1, model.config.embed_dim)
    for ours, theirs in zip(hidden, dropped, strict=True):
        torch.testing.assert_close(ours.gather(2, index), theirs, rtol=1e-10, atol=1e-12)
    seen = model(x, mask).features[-1].gather(2, index)
    assert not torch.allclose(seen, dropped[-1]), "without hiding, the visible tokens read the mask tokens"


def test_hidden_mask_tokens_still_read_the_visible_ones():
    model = make_backbone().double()
    x = images().double()
    mask = torch.rand(2, 3, 2, 3, generator=torch.Generator().manual_seed(5)) < 0.5
    mask[:, 0] = False  # a reference view
    mask[:, 1, 0, 0] = True
    before = model(x, mask, hide_masked=True).features[-1]
    changed = x.clone()
    changed[:, 0, :, :4, :4] += 0.5  # a visible patch of the reference view
    after = model(changed, mask, hide_masked=True).features[-1]
    masked = mask.flatten(2)
    assert (after - before)[masked].abs().amax() > 1e-3, "the mask tokens see the reference view"
    with torch.no_grad():
        model.mask_placeholder.add_(1.0)
    moved = model(x, mask, hide_masked=True).features[-1]
    torch.testing.assert_close(moved[~masked], before[~masked], rtol=1e-10, atol=1e-12)
    assert (moved - before)[masked].abs().amax() > 1e-3


def test_hidden_mask_tokens_under_gradient_checkpointing_give_identical_gradients():
    x = images()
    mask = torch.rand(2, 3, 2, 3, generator=torch.Generator().manual_seed(6)) < 0.5
    assert_checkpointing_keeps_gradients(lambda model: model(x, mask, hide_masked=True).pred.square().mean())


def test_hide_masked_needs_a_mask_and_gives_no_attention_maps():
    model = make_backbone()
    mask = torch.zeros(2, 3, 2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="hide_masked needs a patch_mask"):
        model(images(), hide_masked=True)
    with pytest.raises(ValueError, match="no attention maps"):
        model(images(), mask, attention_blocks=[0], hide_masked=True)
