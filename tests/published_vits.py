"""State_dicts in the key layouts DINOv2, DINOv3, MAE and CroCo v2 publish (tiny, random weights), and a plain
float64 reference forward pass written from the official equations (einsum linear layers and attention, our
own bicubic resampling matrices and RoPE tables), shared by the tests of the readers
(``test_model_published.py``) and of their users (the evaluation backbones, the reconstruction encoder)."""

import math

import numpy as np
import torch

PATCH = 4
DEPTH = 2
GRIDS = [(3, 3), (5, 3), (2, 4)]  # the training grid M x M = 3 x 3, then larger and smaller ones


# ---------------------------------------------------------------- the published layouts, random weights


class Weights:
    """Random float32 tensors, seeded, scaled to keep activations in a useful range."""

    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)

    def normal(self, *shape, scale=0.1):
        return (torch.randn(*shape, generator=self.generator, dtype=torch.float64) * scale).float()

    def linear(self, out_features, in_features):
        return self.normal(out_features, in_features, scale=in_features**-0.5), self.normal(out_features)

    def near_one(self, n):
        return 1 + self.normal(n)


def published_blocks(w, prefix, dim, ffn="mlp", hidden=None, layer_scale=False):
    """``{prefix}{i}.*`` keys of timm-style blocks, as DINOv2, DINOv3, MAE and CroCo name them."""
    hidden = hidden or 4 * dim
    state = {}
    for i in range(DEPTH):
        b = f"{prefix}{i}."
        for norm in ("norm1", "norm2"):
            state[b + norm + ".weight"], state[b + norm + ".bias"] = w.near_one(dim), w.normal(dim)
        state[b + "attn.qkv.weight"], state[b + "attn.qkv.bias"] = w.linear(3 * dim, dim)
        state[b + "attn.proj.weight"], state[b + "attn.proj.bias"] = w.linear(dim, dim)
        layers = {
            "mlp": [("fc1", hidden, dim), ("fc2", dim, hidden)],
            "swiglu_fused": [("w12", 2 * hidden, dim), ("w3", dim, hidden)],
            "swiglu": [("w1", hidden, dim), ("w2", hidden, dim), ("w3", dim, hidden)],
        }[ffn]
        for name, rows, cols in layers:
            state[f"{b}mlp.{name}.weight"], state[f"{b}mlp.{name}.bias"] = w.linear(rows, cols)
        if layer_scale:
            state[b + "ls1.gamma"] = torch.rand(dim, generator=w.generator) + 0.5
            state[b + "ls2.gamma"] = torch.rand(dim, generator=w.generator) + 0.5
    return state


def patch_embed(w, dim):
    weight, bias = w.linear(dim, 3 * PATCH * PATCH)
    return {"patch_embed.proj.weight": weight.view(dim, 3, PATCH, PATCH), "patch_embed.proj.bias": bias}


def dinov2_state(dim=128, registers=0, ffn="mlp", hidden=None, seed=0):
    w = Weights(seed)
    state = {
        **patch_embed(w, dim),
        "cls_token": w.normal(1, 1, dim),
        "pos_embed": w.normal(1, 1 + 9, dim, scale=0.5),
        "mask_token": w.normal(1, dim),
        "norm.weight": w.near_one(dim),
        "norm.bias": w.normal(dim),
    }
    if registers:
        state["register_tokens"] = w.normal(1, registers, dim)
    state.update(published_blocks(w, "blocks.", dim, ffn, hidden, layer_scale=True))
    return state


def dinov3_state(dim=128, heads=4, storage=4, ffn="mlp", hidden=None, bias_mask=True, seed=0):
    w = Weights(seed)
    head_dim = dim // heads
    periods = 100.0 ** (2 * torch.arange(head_dim // 4, dtype=torch.float64) / (head_dim // 2))  # the hub's base 100
    state = {
        **patch_embed(w, dim),
        "cls_token": w.normal(1, 1, dim),
        "mask_token": w.normal(1, dim),
        "rope_embed.periods": periods.float(),
        "norm.weight": w.near_one(dim),
        "norm.bias": w.normal(dim),
        "cls_norm.weight": w.near_one(dim),
        "cls_norm.bias": w.normal(dim),
    }
    if storage:
        state["storage_tokens"] = w.normal(1, storage, dim)
    state.update(published_blocks(w, "blocks.", dim, ffn, hidden, layer_scale=True))
    if bias_mask:
        for i in range(DEPTH):
            state[f"blocks.{i}.attn.qkv.bias_mask"] = torch.cat([torch.ones(dim), torch.zeros(dim), torch.ones(dim)])
    return state


def sincos_table(dim, grid):
    """MAE's fixed 2D sin-cos table (its ``get_2d_sincos_pos_embed``: first half the column, second the row)."""
    omega = 1.0 / 10000 ** (np.arange(dim // 4) / (dim / 4))
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")

    def one_axis(pos):
        angles = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    return torch.from_numpy(np.concatenate([one_axis(cols), one_axis(rows)], axis=1)).float()


def mae_state(dim=128, seed=0, decoder=True):
    w = Weights(seed)
    table = torch.cat([torch.zeros(1, dim), sincos_table(dim, 3)])[None]
    state = {
        **patch_embed(w, dim),
        "cls_token": w.normal(1, 1, dim),
        "pos_embed": table,
        "norm.weight": w.near_one(dim),
        "norm.bias": w.normal(dim),
    }
    state.update(published_blocks(w, "blocks.", dim))
    if decoder:
        state.update(
            {
                "mask_token": w.normal(1, 1, 32),
                "decoder_embed.weight": w.normal(32, dim),
                "decoder_pos_embed": w.normal(1, 10, 32),
                "decoder_pred.weight": w.normal(48, 32),
            }
        )
        decoder_blocks = published_blocks(w, "blocks.", 32)
        state.update({k.replace("blocks.", "decoder_blocks."): v for k, v in decoder_blocks.items()})
    return state


def croco_checkpoint(dim=128, heads=4, pos_embed="RoPE100", seed=0):
    w = Weights(seed)
    state = {
        **patch_embed(w, dim),
        "enc_norm.weight": w.near_one(dim),
        "enc_norm.bias": w.normal(dim),
        "mask_token": w.normal(1, 1, 32),
        "decoder_embed.weight": w.normal(32, dim),
        "prediction_head.weight": w.normal(48, 32),
        "dec_norm.weight": w.near_one(32),
    }
    state.update(published_blocks(w, "enc_blocks.", dim))
    decoder_blocks = published_blocks(w, "enc_blocks.", 32)
    state.update({k.replace("enc_blocks.", "dec_blocks."): v for k, v in decoder_blocks.items()})
    if pos_embed == "cosine":
        state["enc_pos_embed"] = sincos_table(dim, 3)
    kwargs = {
        "enc_embed_dim": dim,
        "enc_depth": DEPTH,
        "enc_num_heads": heads,
        "dec_embed_dim": 32,
        "dec_depth": DEPTH,
        "dec_num_heads": 2,
        "patch_size": PATCH,
        "img_size": 3 * PATCH,
        "pos_embed": pos_embed,
    }
    return {"model": state, "croco_kwargs": kwargs}


# ---------------------------------------------------------------- the plain float64 reference


def d(state, key):
    return state[key].double()


def linear(x, state, key):
    return torch.einsum("...i,oi->...o", x, d(state, key + ".weight")) + d(state, key + ".bias")


def layer_norm(x, state, key, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * d(state, key + ".weight") + d(state, key + ".bias")


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def silu(x):
    return x / (1 + torch.exp(-x))


def softmax(x):
    e = torch.exp(x - x.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def patchify(images, state):
    """``(N, h*w, E)``: the patch convolution as one einsum over non-overlapping patches."""
    n, _, height, width = images.shape
    patches = images.reshape(n, 3, height // PATCH, PATCH, width // PATCH, PATCH)
    out = torch.einsum("nchpwq,ecpq->nhwe", patches, d(state, "patch_embed.proj.weight"))
    out = out + d(state, "patch_embed.proj.bias")
    return out.reshape(n, -1, out.shape[-1])


def reference_blocks(x, state, prefix, heads, eps, prefix_tokens=0, rope=None, qkv_bias_mask=False):
    """Per-block outputs ``(N, T, E)`` of ``x = x + ls1 * attn(norm1 x)``, ``x = x + ls2 * ffn(norm2 x)``;
    ``rope(t)`` turns queries / keys ``(N, L, heads, D)`` of the patch tokens."""
    outputs = []
    for i in range(DEPTH):
        b = f"{prefix}{i}."
        n, t, e = x.shape
        dh = e // heads
        y = layer_norm(x, state, b + "norm1", eps)
        bias = d(state, b + "attn.qkv.bias")
        if qkv_bias_mask:
            bias = bias * d(state, b + "attn.qkv.bias_mask")
        qkv = (torch.einsum("nti,oi->nto", y, d(state, b + "attn.qkv.weight")) + bias).reshape(n, t, 3, heads, dh)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if rope is not None:
            q = torch.cat([q[:, :prefix_tokens], rope(q[:, prefix_tokens:])], dim=1)
            k = torch.cat([k[:, :prefix_tokens], rope(k[:, prefix_tokens:])], dim=1)
        attn = softmax(torch.einsum("nthd,nshd->nhts", q, k) / math.sqrt(dh))
        y = linear(torch.einsum("nhts,nshd->nthd", attn, v).reshape(n, t, e), state, b + "attn.proj")
        x = x + (d(state, b + "ls1.gamma") * y if b + "ls1.gamma" in state else y)
        y = layer_norm(x, state, b + "norm2", eps)
        if b + "mlp.fc1.weight" in state:
            y = linear(gelu(linear(y, state, b + "mlp.fc1")), state, b + "mlp.fc2")
        elif b + "mlp.w12.weight" in state:
            a, g = linear(y, state, b + "mlp.w12").chunk(2, dim=-1)
            y = linear(silu(a) * g, state, b + "mlp.w3")
        else:
            y = linear(silu(linear(y, state, b + "mlp.w1")) * linear(y, state, b + "mlp.w2"), state, b + "mlp.w3")
        x = x + (d(state, b + "ls2.gamma") * y if b + "ls2.gamma" in state else y)
        outputs.append(x)
    return outputs


def cubic(t, a):
    t = np.abs(t)
    return np.where(
        t <= 1, (a + 2) * t**3 - (a + 3) * t**2 + 1, np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0)
    )


def bicubic_matrix(n_in, n_out, scale_factor=None):
    """``(n_out, n_in)`` weights of bicubic resampling (a = -0.75, half-pixel centres, borders clamped);
    source coordinates from ``scale_factor`` when given, as PyTorch does with one."""
    scale = 1.0 / scale_factor if scale_factor else n_in / n_out
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        source = scale * (i + 0.5) - 0.5
        base = math.floor(source)
        for k in range(-1, 3):
            matrix[i, min(max(base + k, 0), n_in - 1)] += cubic(source - (base + k), -0.75)
    return matrix


def antialiased_cubic_matrix(n_in, n_out):
    """``(n_out, n_in)`` weights of antialiased bicubic resampling (PIL's kernel: a = -0.5, widened by the
    shrink factor, taps outside the input dropped and the rest renormalised)."""
    scale = n_in / n_out
    support, stretch = (2 * scale, 1 / scale) if scale >= 1 else (2.0, 1.0)
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = scale * (i + 0.5)
        taps = np.arange(max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in))
        weights = cubic((taps - centre + 0.5) * stretch, -0.5)
        matrix[i, taps] = weights / weights.sum()
    return matrix


def resize_table(patch_table, grid_h, grid_w, rows, cols):
    """``(h*w, E)`` from a square ``(M*M, E)`` table with row / column matrices."""
    m = math.isqrt(patch_table.shape[0])
    square = patch_table.reshape(m, m, -1)
    out = torch.einsum("ia,jb,abe->ije", torch.from_numpy(rows), torch.from_numpy(cols), square)
    return out.reshape(grid_h * grid_w, -1)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def reference_dinov2(state, images, heads):
    grid_h, grid_w = images.shape[2] // PATCH, images.shape[3] // PATCH
    registers = state["register_tokens"].shape[1] if "register_tokens" in state else 0
    table = d(state, "pos_embed")[0]
    if (grid_h, grid_w) == (3, 3):
        patch_pos = table[1:]
    elif registers:  # dinov2_*_reg: resize to the size, antialiased
        patch_pos = resize_table(
            table[1:], grid_h, grid_w, antialiased_cubic_matrix(3, grid_h), antialiased_cubic_matrix(3, grid_w)
        )
    else:  # the interpolate_offset = 0.1 kludge: scale factor (h + 0.1) / M
        patch_pos = resize_table(
            table[1:],
            grid_h,
            grid_w,
            bicubic_matrix(3, grid_h, (grid_h + 0.1) / 3),
            bicubic_matrix(3, grid_w, (grid_w + 0.1) / 3),
        )
    x = patchify(images, state) + patch_pos
    cls = (d(state, "cls_token") + table[:1]).expand(len(images), -1, -1)
    parts = [cls] + ([d(state, "register_tokens").expand(len(images), -1, -1)] if registers else []) + [x]
    outputs = reference_blocks(torch.cat(parts, dim=1), state, "blocks.", heads, 1e-6)
    return [layer_norm(o, state, "norm", 1e-6)[:, 1 + registers :] for o in outputs]


def reference_dinov3(state, images, heads):
    grid_h, grid_w = images.shape[2] // PATCH, images.shape[3] // PATCH
    storage = state["storage_tokens"].shape[1] if "storage_tokens" in state else 0
    coords_h = torch.arange(0.5, grid_h, dtype=torch.float64) / grid_h
    coords_w = torch.arange(0.5, grid_w, dtype=torch.float64) / grid_w
    coords = 2.0 * torch.stack(torch.meshgrid(coords_h, coords_w, indexing="ij"), dim=-1).flatten(0, 1) - 1.0
    angles = (2 * math.pi * coords[:, :, None] / d(state, "rope_embed.periods")[None, None, :]).flatten(1, 2).tile(2)
    cos, sin = torch.cos(angles)[None, :, None], torch.sin(angles)[None, :, None]  # (1, L, 1, D)
    parts = [d(state, "cls_token").expand(len(images), -1, -1)]
    if storage:
        parts.append(d(state, "storage_tokens").expand(len(images), -1, -1))
    x = torch.cat(parts + [patchify(images, state)], dim=1)
    outputs = reference_blocks(
        x,
        state,
        "blocks.",
        heads,
        1e-5,
        prefix_tokens=1 + storage,
        rope=lambda t: t * cos + rotate_half(t) * sin,
        qkv_bias_mask="blocks.0.attn.qkv.bias_mask" in state,
    )
    return [layer_norm(o, state, "norm", 1e-5)[:, 1 + storage :] for o in outputs]


def reference_mae(state, images, heads):
    grid_h, grid_w = images.shape[2] // PATCH, images.shape[3] // PATCH
    table = d(state, "pos_embed")[0]
    patch_pos = (
        table[1:]
        if (grid_h, grid_w) == (3, 3)
        else resize_table(table[1:], grid_h, grid_w, bicubic_matrix(3, grid_h), bicubic_matrix(3, grid_w))
    )
    x = patchify(images, state) + patch_pos
    cls = (d(state, "cls_token") + table[:1]).expand(len(images), -1, -1)
    outputs = reference_blocks(torch.cat([cls, x], dim=1), state, "blocks.", heads, 1e-6)
    return [layer_norm(o, state, "norm", 1e-6)[:, 1:] for o in outputs]


def croco_rope2d(t, rows, cols, base):
    """CroCo's RoPE2D on ``t (N, L, heads, D)``: first half of each head by the row, second by the column."""
    half = t.shape[-1] // 2
    inv_freq = 1.0 / base ** (torch.arange(0, half, 2, dtype=torch.float64) / half)

    def rope1d(x, pos):
        freqs = torch.einsum("l,j->lj", pos.double(), inv_freq)
        freqs = torch.cat([freqs, freqs], dim=-1)[None, :, None]
        return x * torch.cos(freqs) + rotate_half(x) * torch.sin(freqs)

    y, x = t.chunk(2, dim=-1)
    return torch.cat([rope1d(y, rows), rope1d(x, cols)], dim=-1)


def reference_croco(checkpoint, images):
    state, kwargs = checkpoint["model"], checkpoint["croco_kwargs"]
    grid_h, grid_w = images.shape[2] // PATCH, images.shape[3] // PATCH
    x = patchify(images, state)
    rope = None
    if kwargs["pos_embed"] == "cosine":
        table = d(state, "enc_pos_embed")
        x = x + (
            table
            if (grid_h, grid_w) == (3, 3)
            else resize_table(table, grid_h, grid_w, bicubic_matrix(3, grid_h), bicubic_matrix(3, grid_w))
        )
    else:
        rows, cols = torch.cartesian_prod(torch.arange(grid_h), torch.arange(grid_w)).unbind(-1)

        def rope(t):
            return croco_rope2d(t, rows, cols, float(kwargs["pos_embed"][4:]))

    outputs = reference_blocks(x, state, "enc_blocks.", kwargs["enc_num_heads"], 1e-6, rope=rope)
    return [layer_norm(o, state, "enc_norm", 1e-6) for o in outputs]


def images(grid_h, grid_w, n=2, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, grid_h * PATCH, grid_w * PATCH, generator=generator, dtype=torch.float64)


def assert_matches(vit, reference, grids=GRIDS):
    """``vit.layers_out`` (in float64) equals the reference on every grid and block."""
    vit = vit.double()
    for grid_h, grid_w in grids:
        x = images(grid_h, grid_w)
        ours = vit.layers_out(x, list(range(DEPTH)))
        theirs = reference(x)
        for block in range(DEPTH):
            expected = theirs[block].reshape(len(x), grid_h, grid_w, -1)
            torch.testing.assert_close(ours[block], expected, rtol=1e-9, atol=1e-9)
    return ours
