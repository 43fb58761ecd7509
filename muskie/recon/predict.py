"""From a folder of images to cameras, depth, a coloured point cloud, a COLMAP model and a viewer.

``predict_folder`` reads the images (resized to the model's input size), reconstructs them in one pass or,
for long captures, in chunks of views that share frames (:mod:`muskie.recon.chunks`), and writes into the
output folder:
- ``transforms.json`` + ``images/`` (the resized inputs): the predicted cameras, readable by
  ``muskie.data.sources.read_transforms_json``. Poses are expressed in the first view's camera frame (view
  0 at the identity) in the model's unit of length (the scene's scale is unknowable from images);
  intrinsics are estimated from the predicted local points (:func:`estimate_intrinsics`).
- ``sparse/0/``: the same cameras and a sample of the points as a COLMAP text model
  (:mod:`muskie.recon.colmap_export`).
- ``depth/`` and ``confidence/``: per-view z-depth (16-bit PNG, its scale in ``depth/scale.json``, and
  float32 ``.npy``) and confidence (``.npy`` and an 8-bit PNG) (:mod:`muskie.recon.depth_maps`).
- ``points.ply``: every pixel's world point with its colour and confidence, binary little-endian PLY;
  pixels below ``min_confidence`` are left out (also from the COLMAP points and the viewer).
- ``viewer.html``: the cloud and the cameras in a page that opens offline (:mod:`muskie.recon.viewer`).
- ``render.png``: the cloud and the cameras (view 0 red), from behind and above the cameras.
"""

from __future__ import annotations

from pathlib import Path

import torch

from muskie.constants import normalize_image
from muskie.data.imageio import read_image
from muskie.data.sources import read_image_folder, write_transforms_json
from muskie.data.transforms import resize
from muskie.geometry import invert_pose, pixel_grid, transform_points
from muskie.outputs import check_output_folder, output_folder
from muskie.progress import progress_bar
from muskie.recon.chunks import assemble_chunks, checked_overlap, chunk_ranges
from muskie.recon.colmap_export import DEFAULT_MAX_POINTS, write_colmap_prediction
from muskie.recon.depth_maps import CONFIDENCE_DIR, DEPTH_DIR, depth_png_scale, write_depth_arrays
from muskie.recon.model import ReconModel
from muskie.recon.ply import write_ply
from muskie.recon.prediction import Prediction
from muskie.recon.render import render_point_cloud
from muskie.recon.viewer import MAX_VIEWER_POINTS, write_viewer

TRANSFORMS_NAME = "transforms.json"
COLMAP_DIR = "sparse/0"
PLY_NAME = "points.ply"
VIEWER_NAME = "viewer.html"
RENDER_NAME = "render.png"


def default_size(image_size: tuple[int, int], patch_size: int, long_side: int) -> tuple[int, int]:
    """An input size ``(H, W)`` of the image's aspect ratio, its long side ``long_side``, both sides
    rounded to multiples of ``patch_size`` (at least one patch)."""
    height, width = image_size
    scale = long_side / max(height, width)
    return tuple(max(patch_size, round(side * scale / patch_size) * patch_size) for side in (height, width))


def load_images(folder: str | Path, size: tuple[int, int], progress: bool = False) -> tuple[torch.Tensor, list[str]]:
    """The images of ``folder`` (or its ``images/`` subfolder), natural name order, each resized to
    ``size`` = (H, W): ``((V, 3, H, W) float32 in [0, 1], stems)``; ``progress`` shows a bar over the images
    (``muskie.progress``). Raises FileNotFoundError / ValueError."""
    scene = read_image_folder(folder)
    frames = progress_bar(scene.frames, desc="reading images", unit="image", enabled=progress)
    images = [resize(read_image(frame.image_path), size)[0] for frame in frames]
    return torch.stack(images), [frame.image_path.stem for frame in scene.frames]


def estimate_intrinsics(local_points: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Pinhole ``K (V, 3, 3)`` that best explains local pointmaps ``(V, H, W, 3)``.

    The principal point is the image centre; ``fx`` minimises ``sum w (u - cx - fx * x / z)^2`` over the
    pixels (``fy`` likewise with rows), weights ``weight (V, H, W)`` (default 1). A focal length that comes
    out non-positive or non-finite (an untrained model) falls back to the image's larger side (a 53-degree
    field of view).
    """
    v, height, width, _ = local_points.shape
    points = local_points.double()
    weight = torch.ones(v, height, width, dtype=torch.float64) if weight is None else weight.double()
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=torch.float64)
    offsets = pixel_grid(height, width, dtype=torch.float64) - centre  # (H, W, 2)
    slopes = points[..., :2] / points[..., 2:3].clamp(min=1e-12)  # (V, H, W, 2)
    numerator = (weight[..., None] * slopes * offsets).sum((1, 2))
    denominator = (weight[..., None] * slopes**2).sum((1, 2))
    focal = numerator / denominator.clamp(min=1e-300)
    focal = torch.where(torch.isfinite(focal) & (focal > 0), focal, torch.full_like(focal, float(max(height, width))))
    K = torch.zeros(v, 3, 3, dtype=torch.float64)
    K[:, 0, 0], K[:, 1, 1] = focal[:, 0], focal[:, 1]
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = centre[0], centre[1], 1.0
    return K


@torch.no_grad()
def predict_views(
    model: ReconModel, images: torch.Tensor, names: list[str], device: str | torch.device = "cpu"
) -> Prediction:
    """Reconstruct one scene: ``images (V, 3, H, W)`` in [0, 1], ``H``, ``W`` multiples of the patch size."""
    model.eval().to(device)
    output = model(normalize_image(images)[None].to(device))
    # express everything in view 0's camera frame: the model's own world frame is arbitrary
    to_first = invert_pose(output.cam_to_world[0, 0]).cpu().double()
    cam_to_world = to_first @ output.cam_to_world[0].cpu().double()
    points = transform_points(to_first, output.points[0].cpu().double())
    confidence = output.confidence[0].cpu()
    return Prediction(
        names=list(names),
        images=images.cpu(),
        local_points=output.local_points[0].cpu(),
        points=points.float(),
        confidence=confidence,
        cam_to_world=cam_to_world.float(),
        intrinsics=estimate_intrinsics(output.local_points[0].cpu(), confidence).float(),
    )


def predict_capture(
    model: ReconModel,
    images: torch.Tensor,
    names: list[str],
    device: str | torch.device = "cpu",
    chunk_views: int | None = None,
    chunk_overlap: int | None = None,
    progress: bool = False,
) -> Prediction:
    """Reconstruct a capture ``images (V, 3, H, W)`` in [0, 1]: in one pass when ``chunk_views`` is None or
    at least ``V``, else in chunks of ``chunk_views`` views, consecutive chunks sharing ``chunk_overlap``
    (default: a third of a chunk), assembled into the first chunk's frame
    (:mod:`muskie.recon.chunks`). The model sees one chunk at a time; ``progress`` shows a bar over the
    chunks (``muskie.progress``)."""
    if chunk_views is not None:
        checked_overlap(chunk_views, chunk_overlap)
    if chunk_views is None or len(names) <= chunk_views:
        return predict_views(model, images, names, device)
    ranges = chunk_ranges(len(names), chunk_views, chunk_overlap)
    chunks = (
        predict_views(model, images[views.start : views.stop], names[views.start : views.stop], device)
        for views in progress_bar(ranges, desc="reconstructing chunks", unit="chunk", enabled=progress)
    )
    return assemble_chunks(chunks, ranges)


def write_prediction(
    prediction: Prediction,
    out_dir: str | Path,
    min_confidence: float = 0.0,
    render_size: tuple[int, int] = (480, 640),
    overwrite: bool = False,
    max_colmap_points: int = DEFAULT_MAX_POINTS,
    max_viewer_points: int = MAX_VIEWER_POINTS,
) -> dict[str, Path]:
    """Write the results (module docstring) into ``out_dir``; returns their paths by kind (``transforms``,
    ``colmap``, ``depth``, ``confidence``, ``ply``, ``viewer``, ``render``).

    The COLMAP model holds at most ``max_colmap_points`` points, the viewer ``max_viewer_points`` (random
    samples of the kept pixels); the PLY holds them all. A non-empty ``out_dir`` is refused unless
    ``overwrite``, which replaces it whole (no stale file of the old folder stays). The folder appears only
    once complete (:func:`muskie.outputs.output_folder`)."""
    out_dir = check_output_folder(out_dir, overwrite=overwrite)
    keep = (prediction.confidence >= min_confidence) & torch.isfinite(prediction.points).all(-1)
    if not keep.any():
        raise ValueError(f"no pixel has confidence >= {min_confidence}; lower min_confidence")
    names = {
        "transforms": TRANSFORMS_NAME,
        "colmap": COLMAP_DIR,
        "depth": DEPTH_DIR,
        "confidence": CONFIDENCE_DIR,
        "ply": PLY_NAME,
        "viewer": VIEWER_NAME,
        "render": RENDER_NAME,
    }
    image_size = tuple(prediction.images.shape[-2:])
    with output_folder(out_dir, overwrite=True) as staging:
        scale = depth_png_scale(prediction.depth)
        write_transforms_json(
            staging,
            prediction.images,
            prediction.intrinsics,
            prediction.cam_to_world,
            depth=prediction.depth,
            image_names=prediction.names,
            depth_scale=scale,
        )
        write_depth_arrays(staging, prediction.names, prediction.depth, prediction.confidence, scale)
        write_colmap_prediction(staging / COLMAP_DIR, prediction, keep, max_colmap_points)
        points = prediction.points[keep].numpy()
        colors = prediction.images.permute(0, 2, 3, 1)[keep].numpy()
        write_ply(staging / PLY_NAME, points, colors, prediction.confidence[keep].numpy())
        cam_to_world, intrinsics = prediction.cam_to_world.numpy(), prediction.intrinsics.numpy()
        write_viewer(
            staging / VIEWER_NAME,
            points,
            colors,
            cam_to_world,
            intrinsics,
            image_size,
            max_viewer_points,
            title=f"muskie reconstruction of {len(prediction.names)} views",
        )
        render = render_point_cloud(points, colors, cam_to_world, intrinsics, image_size, size=render_size)
        render.save(staging / RENDER_NAME)
    return {kind: out_dir / name for kind, name in names.items()}


def predict_folder(
    model: ReconModel,
    folder: str | Path,
    out_dir: str | Path,
    size: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    min_confidence: float = 0.0,
    long_side: int = 64,
    overwrite: bool = False,
    chunk_views: int | None = None,
    chunk_overlap: int | None = None,
    progress: bool = False,
) -> dict[str, Path]:
    """Reconstruct the images of ``folder`` and write the results (module docstring) into ``out_dir``.

    ``size`` = (H, W) input size, multiples of the patch size; default: the first image's aspect ratio
    with its long side ``long_side``. ``chunk_views`` / ``chunk_overlap``: see :func:`predict_capture`.
    ``progress`` shows bars over the images read and the chunks reconstructed (``muskie.progress``).
    ``out_dir`` may not be ``folder``, lie inside it or hold it, and must be empty unless ``overwrite``
    (see :func:`write_prediction`). Returns the written paths by kind.
    """
    check_output_folder(out_dir, inputs=[folder], overwrite=overwrite)
    if chunk_views is not None:
        checked_overlap(chunk_views, chunk_overlap)  # bad chunk settings refused before the images are read
    patch = model.patch_size
    if size is None:
        first = read_image_folder(folder).frames[0]
        size = default_size((first.height, first.width), patch, long_side)
    if size[0] % patch or size[1] % patch:
        raise ValueError(f"size {size[0]}x{size[1]} is not a multiple of the model's patch size {patch}")
    images, names = load_images(folder, size, progress)
    if len(names) < 2:
        raise ValueError(f"{folder}: reconstruction needs at least 2 images, found {len(names)}")
    prediction = predict_capture(model, images, names, device, chunk_views, chunk_overlap, progress)
    return write_prediction(prediction, out_dir, min_confidence, overwrite=overwrite)
