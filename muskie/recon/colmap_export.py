"""A reconstruction as a COLMAP text model (``cameras.txt``, ``images.txt``, ``points3D.txt``), the input
of Gaussian-splatting and NeRF trainers and of COLMAP's own tools.

One ``PINHOLE`` camera per view (each view has its own estimated intrinsics), its image named
``<stem>.png`` (the resized input in ``images/`` beside ``sparse/0``). The 3D points are a seeded random
sample of the kept pixels, at most ``max_points``; each has a track of one observation, its own pixel,
listed as that image's 2D point, and its reprojection error in pixels through its view's camera (not 0:
the intrinsics are a least-squares fit to the predicted local points).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from muskie.data.sources.colmap import ColmapCamera, ColmapImage, ColmapPoint3D, write_colmap_model
from muskie.geometry import invert_pose, project_points, rotation_to_quaternion
from muskie.recon.prediction import Prediction

# VGGT's demo_colmap.py keeps as many (feed-forward, no bundle adjustment): enough to start Gaussian
# splatting, few enough for text files
DEFAULT_MAX_POINTS = 100_000


def sample_pixels(keep: torch.Tensor, max_points: int, seed: int = 0) -> np.ndarray:
    """Indices ``(N, 3)`` (view, row, column) of at most ``max_points`` pixels where ``keep (V, H, W)`` is
    true: all of them when they are few enough, else a random sample drawn with ``seed``, in pixel order."""
    where = np.argwhere(keep.numpy())
    if len(where) <= max_points:
        return where
    chosen = np.random.default_rng(seed).choice(len(where), size=max_points, replace=False)
    return where[np.sort(chosen)]


def write_colmap_prediction(
    model_dir: str | Path, prediction: Prediction, keep: torch.Tensor, max_points: int = DEFAULT_MAX_POINTS
) -> Path:
    """Write ``prediction`` as a COLMAP text model into ``model_dir`` (module docstring); 3D points from
    the pixels where ``keep (V, H, W)`` bool is true. Returns ``model_dir``."""
    num_views, _, height, width = prediction.images.shape
    intrinsics = prediction.intrinsics.double()
    cam_to_world = prediction.cam_to_world.double()
    cameras, images = {}, {}
    for view, name in enumerate(prediction.names):
        k = intrinsics[view].numpy()
        # COLMAP puts pixel centres at +0.5
        cameras[view + 1] = ColmapCamera(
            view + 1, "PINHOLE", width, height, np.array([k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5])
        )
        world_to_cam = invert_pose(cam_to_world[view]).numpy()
        images[view + 1] = ColmapImage(
            view + 1, rotation_to_quaternion(world_to_cam[:3, :3]), world_to_cam[:3, 3], view + 1, f"{name}.png"
        )

    pixels = sample_pixels(keep, max_points)
    views, rows, columns = (torch.from_numpy(pixels[:, axis]) for axis in range(3))
    xyz = prediction.points[views, rows, columns].double()
    uv, _ = project_points(xyz[:, None], intrinsics[views], cam_to_world[views])
    centres = torch.stack([columns, rows], dim=-1).double()
    errors = torch.linalg.norm(uv[:, 0] - centres, dim=-1).numpy()
    rgb = np.round(prediction.images.permute(0, 2, 3, 1)[views, rows, columns].clamp(0, 1).double().numpy() * 255)
    points = {}
    keypoints: dict[int, list[tuple[float, float, int]]] = {view + 1: [] for view in range(num_views)}
    for index, (view, row, column) in enumerate(pixels.tolist()):
        observations = keypoints[view + 1]
        points[index + 1] = ColmapPoint3D(
            index + 1,
            xyz[index].numpy(),
            rgb[index].astype(np.uint8),
            float(errors[index]),
            np.array([view + 1]),
            np.array([len(observations)]),
        )
        observations.append((column + 0.5, row + 0.5, index + 1))
    for image_id, observations in keypoints.items():
        table = np.array(observations, dtype=np.float64).reshape(-1, 3)
        images[image_id].xys, images[image_id].point3d_ids = table[:, :2], table[:, 2].astype(np.int64)
    return write_colmap_model(model_dir, cameras, images, points)
