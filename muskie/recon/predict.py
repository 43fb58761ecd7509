"""From a folder of images to cameras, a coloured point cloud and a picture of both.

``predict_folder`` reads the images (resized to the model's input size), runs the model once on all of
them, and writes into the output folder:
- ``transforms.json`` + ``images/`` (the resized inputs): the predicted cameras, readable by
  ``muskie.data.sources.read_transforms_json``. Poses are expressed in the first view's camera frame (view
  0 at the identity) in the model's unit of length (the scene's scale is unknowable from images);
  intrinsics are estimated from the predicted local points (:func:`estimate_intrinsics`).
- ``points.ply``: every pixel's world point with its colour, binary little-endian PLY; pixels below
  ``min_confidence`` are left out.
- ``render.png``: the cloud and the cameras (view 0 red), from behind and above the cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from muskie.constants import normalize_image
from muskie.data.imageio import read_image
from muskie.data.sources import read_image_folder, write_transforms_json
from muskie.data.transforms import resize
from muskie.geometry import invert_pose, pixel_grid, transform_points
from muskie.outputs import check_output_folder, output_folder
from muskie.recon.model import ReconModel
from muskie.recon.ply import write_ply
from muskie.recon.render import render_point_cloud

TRANSFORMS_NAME = "transforms.json"
PLY_NAME = "points.ply"
RENDER_NAME = "render.png"


@dataclass
class Prediction:
    """The model's reconstruction of ``V`` views of ``H x W`` pixels.

    Attributes:
        names: the image file stems, in view order.
        images: ``(V, 3, H, W)`` float32 RGB in [0, 1], the model's input.
        local_points, points: ``(V, H, W, 3)`` in each camera's frame and in the world frame of view 0.
        confidence: ``(V, H, W)`` in (0, 1).
        cam_to_world: ``(V, 4, 4)`` poses, OpenCV axes, view 0 the identity.
        intrinsics: ``(V, 3, 3)`` estimated ``K`` in pixels of the ``H x W`` input.
    """

    names: list[str]
    images: torch.Tensor
    local_points: torch.Tensor
    points: torch.Tensor
    confidence: torch.Tensor
    cam_to_world: torch.Tensor
    intrinsics: torch.Tensor


def default_size(image_size: tuple[int, int], patch_size: int, long_side: int) -> tuple[int, int]:
    """An input size ``(H, W)`` of the image's aspect ratio, its long side ``long_side``, both sides
    rounded to multiples of ``patch_size`` (at least one patch)."""
    height, width = image_size
    scale = long_side / max(height, width)
    return tuple(max(patch_size, round(side * scale / patch_size) * patch_size) for side in (height, width))


def load_images(folder: str | Path, size: tuple[int, int]) -> tuple[torch.Tensor, list[str]]:
    """The images of ``folder`` (or its ``images/`` subfolder), natural name order, each resized to
    ``size`` = (H, W): ``((V, 3, H, W) float32 in [0, 1], stems)``. Raises FileNotFoundError / ValueError."""
    scene = read_image_folder(folder)
    images = [resize(read_image(frame.image_path), size)[0] for frame in scene.frames]
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
def predict_views(model: ReconModel, images: torch.Tensor, names: list[str],
                  device: str | torch.device = "cpu") -> Prediction:
    """Reconstruct one scene: ``images (V, 3, H, W)`` in [0, 1], ``H``, ``W`` multiples of the patch size."""
    model.eval().to(device)
    output = model(normalize_image(images)[None].to(device))
    # express everything in view 0's camera frame: the model's own world frame is arbitrary
    to_first = invert_pose(output.cam_to_world[0, 0]).cpu().double()
    cam_to_world = to_first @ output.cam_to_world[0].cpu().double()
    points = transform_points(to_first, output.points[0].cpu().double())
    confidence = output.confidence[0].cpu()
    return Prediction(names=list(names), images=images.cpu(), local_points=output.local_points[0].cpu(),
                      points=points.float(), confidence=confidence, cam_to_world=cam_to_world.float(),
                      intrinsics=estimate_intrinsics(output.local_points[0].cpu(), confidence).float())


def write_prediction(prediction: Prediction, out_dir: str | Path, min_confidence: float = 0.0,
                     render_size: tuple[int, int] = (480, 640), overwrite: bool = False) -> dict[str, Path]:
    """Write ``transforms.json`` (+ ``images/``), ``points.ply`` and ``render.png`` into ``out_dir``; returns
    their paths by kind (``transforms``, ``ply``, ``render``).

    A non-empty ``out_dir`` is refused unless ``overwrite``, which replaces it whole (no stale file of the old
    folder stays). The folder appears only once complete (:func:`muskie.outputs.output_folder`)."""
    out_dir = check_output_folder(out_dir, overwrite=overwrite)
    keep = (prediction.confidence >= min_confidence) & torch.isfinite(prediction.points).all(-1)
    if not keep.any():
        raise ValueError(f"no pixel has confidence >= {min_confidence}; lower min_confidence")
    names = {"transforms": TRANSFORMS_NAME, "ply": PLY_NAME, "render": RENDER_NAME}
    with output_folder(out_dir, overwrite=True) as staging:
        write_transforms_json(staging, prediction.images, prediction.intrinsics, prediction.cam_to_world,
                              image_names=prediction.names)
        points = prediction.points[keep].numpy()
        colors = prediction.images.permute(0, 2, 3, 1)[keep].numpy()
        write_ply(staging / PLY_NAME, points, colors)
        image_size = tuple(prediction.images.shape[-2:])
        render = render_point_cloud(points, colors, prediction.cam_to_world.numpy(), prediction.intrinsics.numpy(),
                                    image_size, size=render_size)
        render.save(staging / RENDER_NAME)
    return {kind: out_dir / name for kind, name in names.items()}


def predict_folder(model: ReconModel, folder: str | Path, out_dir: str | Path, size: tuple[int, int] | None = None,
                   device: str | torch.device = "cpu", min_confidence: float = 0.0,
                   long_side: int = 64, overwrite: bool = False) -> dict[str, Path]:
    """Reconstruct the images of ``folder`` and write the results (module docstring) into ``out_dir``.

    ``size`` = (H, W) input size, multiples of the patch size; default: the first image's aspect ratio
    with its long side ``long_side``. ``out_dir`` may not be ``folder``, lie inside it or hold it, and must
    be empty unless ``overwrite`` (see :func:`write_prediction`). Returns the written paths by kind.
    """
    check_output_folder(out_dir, inputs=[folder], overwrite=overwrite)
    patch = model.backbone.config.patch_size
    if size is None:
        first = read_image_folder(folder).frames[0]
        size = default_size((first.height, first.width), patch, long_side)
    if size[0] % patch or size[1] % patch:
        raise ValueError(f"size {size[0]}x{size[1]} is not a multiple of the model's patch size {patch}")
    images, names = load_images(folder, size)
    if len(names) < 2:
        raise ValueError(f"{folder}: reconstruction needs at least 2 images, found {len(names)}")
    return write_prediction(predict_views(model, images, names, device), out_dir, min_confidence,
                            overwrite=overwrite)
