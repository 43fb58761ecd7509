"""Per-view features of a Muskie backbone for downstream use: chosen blocks' patch tokens (and, optionally,
chosen blocks' cross-view attention) of every image of one or more scenes, saved as one ``.safetensors``
file whose header records how to read it.

The views of a scene go through the model together in chunks of at most ``batch_views`` consecutive views
(near-equal sizes); the views of a chunk attend to each other, so a view's features depend on its chunk,
and the file records each chunk. The file holds (``N`` views in all, ``L = (H/p) * (W/p)`` patches in
row-major order over the ``(H/p, W/p)`` grid, ``E`` the width):

- ``features.block<b>``: ``(N, L, E)`` float32, the patch tokens after block ``b`` (registers removed);
- ``attention.block<b>.chunk<c>``: ``(V_c, L, V_c, L)`` float32, block ``b``'s head-averaged global-layer
  attention within chunk ``c`` of ``V_c`` views (query view, query patch, key view, key patch);

and, under the header key ``muskie.features``, JSON: ``size [H, W]``, ``patch_size``, ``grid [H/p, W/p]``,
``blocks``, ``attention_blocks``, ``images`` and ``scenes`` (per view), ``chunks`` (``[start, end)`` view
ranges), ``model`` (class, config, the weights it was loaded from).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from muskie.constants import normalize_image
from muskie.data.imageio import read_image
from muskie.data.scene import Scene
from muskie.data.sources import load_scenes, read_image_folder
from muskie.data.transforms import resize
from muskie.devices import resolve_device
from muskie.model import MuskieBackbone
from muskie.progress import progress_bar

METADATA_KEY = "muskie.features"


@dataclass
class FeatureSet:
    """What :func:`extract_features` returns (see the module docstring for shapes and conventions).

    Attributes:
        features: block -> ``(N, L, E)`` float32 on the CPU.
        attention: block -> one ``(V_c, L, V_c, L)`` tensor per chunk.
        images, scenes: per view, its image (relative to its scene's folder) and its scene's name.
        chunks: ``(start, end)`` view ranges that went through the model together.
        size: ``(H, W)`` pixels the images were given to the model at; ``grid``: ``(H/p, W/p)``.
        model: ``{"class", "config", "source"}`` of the model.
    """

    features: dict[int, torch.Tensor]
    attention: dict[int, list[torch.Tensor]]
    images: list[str]
    scenes: list[str]
    chunks: list[tuple[int, int]]
    size: tuple[int, int]
    grid: tuple[int, int]
    model: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        """The JSON header entry the file stores."""
        return {
            "size": list(self.size),
            "patch_size": self.model["config"]["patch_size"],
            "grid": list(self.grid),
            "blocks": sorted(self.features),
            "attention_blocks": sorted(self.attention),
            "images": self.images,
            "scenes": self.scenes,
            "chunks": [list(chunk) for chunk in self.chunks],
            "model": self.model,
        }


def chunk_ranges(num_views: int, batch_views: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges splitting ``num_views`` consecutive views into the fewest chunks of at most
    ``batch_views`` views, their sizes differing by at most one."""
    count = math.ceil(num_views / batch_views)
    bounds = [round(k * num_views / count) for k in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _image_name(scene: Scene, path: Path) -> str:
    try:
        return str(Path(path).relative_to(scene.root))
    except ValueError:  # an image outside the scene's folder (a manifest may point anywhere)
        return str(path)


def _check_blocks(blocks: Iterable[int], depth: int, what: str) -> list[int]:
    """Block indices (negative from the end) as indices in ``0 .. depth-1``, in the order given, no repeats."""
    chosen = []
    for block in blocks:
        if not -depth <= block < depth:
            raise ValueError(f"{what}: block {block} does not exist; the model has blocks 0..{depth - 1}")
        if block % depth not in chosen:
            chosen.append(block % depth)
    return chosen


def _read_view(path: Path, size: tuple[int, int] | None) -> torch.Tensor:
    """``(3, H, W)`` float32 in [-1, 1]: the image at ``path``, resized to ``size`` when given."""
    image = read_image(path)
    return normalize_image(resize(image, size)[0] if size is not None else image)


@torch.inference_mode()
def extract_features(
    model: MuskieBackbone,
    scenes: Sequence[Scene],
    blocks: Iterable[int],
    attention_blocks: Iterable[int] = (),
    batch_views: int = 8,
    size: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    source: str = "",
    progress: bool = False,
) -> FeatureSet:
    """The features of ``blocks`` (and the cross-view attention of ``attention_blocks``) of every image of
    ``scenes``, the views of each scene in chunks of at most ``batch_views``.

    Args:
        model: a Muskie or a bare backbone (set to eval mode and moved to ``device``; no gradients).
        scenes: the scenes (``muskie.data.sources``); only their images are read.
        blocks, attention_blocks: block indices, negative counting from the end.
        size: ``(H, W)`` to resize every image to (multiples of the patch size); None keeps the images' own
            size, which must then be one size, a multiple of the patch size.
        source: where the model was loaded from, recorded in the file.
        progress: show a bar over the images (``muskie.progress``).

    Raises ValueError (naming the problem) for no images, a bad size or block, ``batch_views < 1``, or
    attention asked of a frame-wise model; FileNotFoundError / ``ImageReadError`` for an unreadable image.
    """
    config = model.config
    p = config.patch_size
    blocks = _check_blocks(blocks, config.depth, "blocks")
    attention_blocks = _check_blocks(attention_blocks, config.depth, "attention blocks")
    if not blocks:
        raise ValueError("no blocks chosen: name at least one block whose features to save")
    if attention_blocks and not config.cross_view:
        raise ValueError("the model is frame-wise (cross_view false): it has no cross-view attention to save")
    if batch_views < 1:
        raise ValueError(f"batch_views must be >= 1, got {batch_views}")
    if size is not None and (len(size) != 2 or min(size) <= 0 or size[0] % p or size[1] % p):
        raise ValueError(f"size {'x'.join(map(str, size))} is not a positive multiple of the patch size {p}")
    if not any(scene.frames for scene in scenes):
        raise ValueError("no images to read")

    model = model.eval().to(device)
    features: dict[int, list[torch.Tensor]] = {b: [] for b in blocks}
    attention: dict[int, list[torch.Tensor]] = {b: [] for b in attention_blocks}
    images: list[str] = []
    scene_names: list[str] = []
    chunks: list[tuple[int, int]] = []
    shape: tuple[int, int] | None = None  # (H, W) of every view: the first image's
    bar = progress_bar(
        total=sum(len(scene.frames) for scene in scenes), desc="extracting features", unit="image", enabled=progress
    )
    for scene in scenes:
        for start, end in chunk_ranges(len(scene.frames), batch_views):
            paths = [frame.image_path for frame in scene.frames[start:end]]
            views = [_read_view(path, size) for path in paths]
            for path, view in zip(paths, views, strict=True):
                if shape is None:
                    shape = (view.shape[-2], view.shape[-1])
                if (view.shape[-2], view.shape[-1]) != shape:
                    raise ValueError(
                        f"{path}: {view.shape[1]}x{view.shape[2]} pixels, but the first image has "
                        f"{shape[0]}x{shape[1]}; give a size to resize every image to"
                    )
                if shape[0] % p or shape[1] % p:
                    raise ValueError(
                        f"{path}: {shape[0]}x{shape[1]} pixels is not a multiple of the patch size "
                        f"{p}; give a size to resize every image to"
                    )
            out = model(torch.stack(views)[None].to(device), attention_blocks=attention_blocks)
            for b in blocks:
                features[b].append(out.features[b][0].float().cpu())
            for b in attention_blocks:
                attention[b].append(out.attention[b][0].float().cpu())
            offset = len(images)
            chunks.append((offset, offset + end - start))
            images += [_image_name(scene, path) for path in paths]
            scene_names += [scene.name] * (end - start)
            bar.update(end - start)
    bar.close()
    assert shape is not None  # some scene has frames (checked above), so some image was read
    return FeatureSet(
        features={b: torch.cat(t) for b, t in features.items()},
        attention=attention,
        images=images,
        scenes=scene_names,
        chunks=chunks,
        size=shape,
        grid=(shape[0] // p, shape[1] // p),
        model={"class": type(model).__name__, "config": model.config_dict(), "source": source},
    )


def save_features(path: str | os.PathLike, feature_set: FeatureSet) -> Path:
    """Write ``feature_set`` as one ``.safetensors`` file (layout: the module docstring); returns its path."""
    path = Path(path)
    tensors = {f"features.block{b}": t.contiguous() for b, t in feature_set.features.items()}
    for b, per_chunk in feature_set.attention.items():
        tensors.update({f"attention.block{b}.chunk{c}": t.contiguous() for c, t in enumerate(per_chunk)})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    save_file(tensors, str(temporary), metadata={METADATA_KEY: json.dumps(feature_set.metadata())})
    os.replace(temporary, path)
    return path


def read_features_metadata(path: str | os.PathLike) -> dict:
    """The ``muskie.features`` header entry of a file :func:`save_features` wrote."""
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()[METADATA_KEY])


def export_features(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    images: str | os.PathLike | None = None,
    scenes: str | os.PathLike | None = None,
    blocks: Iterable[int] = (-1,),
    attention_blocks: Iterable[int] = (),
    batch_views: int = 8,
    size: tuple[int, int] | None = None,
    device: str = "auto",
    allow_pickle: bool = False,
    progress: bool = False,
) -> Path:
    """``muskie features`` as a function: the features of the Muskie at ``checkpoint`` (any file or Hub
    repository ``MuskieBackbone.from_pretrained`` reads) for a folder of ``images`` (one scene) or for
    ``scenes`` (a scene folder, a folder of scenes or a manifest; exactly one of the two), saved to ``out``
    (a ``.safetensors`` file; see :func:`extract_features` for the other arguments); returns ``out``."""
    if (images is None) == (scenes is None):
        raise ValueError("give a folder of images or a scene source, exactly one of the two")
    if Path(out).suffix != ".safetensors":
        raise ValueError(f"{out}: the output must be a .safetensors file")
    target = resolve_device(device)
    # read before any download
    if images is not None:
        loaded = [read_image_folder(images)]
    else:
        assert scenes is not None  # exactly one of the two, checked above
        loaded = load_scenes(scenes)
    model = MuskieBackbone.from_pretrained(checkpoint, allow_pickle=allow_pickle)
    feature_set = extract_features(
        model, loaded, blocks, attention_blocks, batch_views, size, target, source=str(checkpoint), progress=progress
    )
    return save_features(out, feature_set)
