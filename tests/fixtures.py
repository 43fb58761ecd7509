"""Small test objects several test files build: random rigid poses, a pinhole camera row, a small Muskie, a
small real filesystem to fill, a capture with exact cameras and its reconstruction in any frame, an NRGBD
scene of a wall."""

import contextlib
import math
import os
import subprocess

import numpy as np
import pytest
import torch

from muskie.geometry import intrinsics_from_fov, pixel_grid
from muskie.model import Muskie, MuskieConfig

# width 128 = the tiny preset's, so released-style files (no config) resolve to its 4 heads
SMALL_MUSKIE = MuskieConfig(embed_dim=128, depth=2, num_heads=4, patch_size=4)


def random_pose(generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """A random rigid camera-to-world ``(4, 4)``: rotation from a QR decomposition, translation ~ N(0, 1)."""
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.linalg.det(q))
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = q
    pose[:3, 3] = torch.randn(3, generator=generator, dtype=torch.float64)
    return pose.to(dtype)


def centred_intrinsics(views: int, focal: float, size: int) -> torch.Tensor:
    """``(views, 3, 3)`` pinhole intrinsics of square ``size x size`` images, principal point at the centre."""
    K = torch.tensor([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1.0]])
    return K.expand(views, 3, 3).clone()


def translated(x: float) -> torch.Tensor:
    """The camera-to-world pose of a camera moved by ``x`` along the world's x axis."""
    pose = torch.eye(4)
    pose[0, 3] = x
    return pose


def small_muskie() -> Muskie:
    """A :data:`SMALL_MUSKIE` in eval mode, seed 0, with a non-zero mask token (so it is not a default)."""
    torch.manual_seed(0)
    model = Muskie(SMALL_MUSKIE).eval()
    with torch.no_grad():
        model.mask_placeholder.normal_()
    return model


TINY_PRETRAIN_MODEL = {"embed_dim": 32, "depth": 1, "num_heads": 2, "patch_size": 8}


def tiny_pretrain_config(out_dir, **overrides):
    """A pre-training config that runs in seconds: a width-32 one-block model, 2 scenes of 2-3 views at
    32x32 per batch, 6 steps, each batch used twice, checkpoints every 2 steps; ``overrides`` merged on top."""
    from muskie.config_io import merge
    from muskie.pretraining.config import PretrainConfig

    base = {
        "model": "tiny",
        "model_overrides": TINY_PRETRAIN_MODEL,
        "data": {
            "resolutions": [[[32, 32]]],
            "min_views": 2,
            "max_views": 3,
            "batch_size": 2,
            "workers": 0,
            "synthetic_scenes": 64,
        },
        "optim": {"lr": 1e-3, "warmup_steps": 2},
        "steps": 6,
        "reuse": 2,
        "precision": "fp32",
        "device": "cpu",
        "checkpoint_every": 2,
        "out_dir": str(out_dir),
    }
    config = merge(PretrainConfig(), base)
    return merge(config, overrides) if overrides else config


def assert_same_weights(a: dict, b: dict) -> None:
    """Two state_dicts hold the same keys and bitwise equal tensors."""
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def write_image_folder(folder, num_frames: int, size: tuple[int, int] = (16, 16), suffix: str = ".png") -> None:
    """``num_frames`` flat RGB images ``NNN<suffix>`` of ``size = (H, W)`` in ``folder``; frame i has grey
    level ``10 * i``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(num_frames):
        Image.new("RGB", (size[1], size[0]), (10 * i,) * 3).save(folder / f"{i:03d}{suffix}")


def write_camera_scene(folder, num_frames: int, size: int = 16, with_depth: bool = True):
    """A ``transforms.json`` scene of flat images, cameras moving along x, depth ``1 + i`` m."""
    from muskie.data.sources import write_transforms_json

    images = torch.arange(num_frames, dtype=torch.float64).view(-1, 1, 1, 1).expand(-1, 3, size, size) / 20
    poses = torch.eye(4, dtype=torch.float64).repeat(num_frames, 1, 1)
    poses[:, 0, 3] = torch.arange(num_frames)
    depth = torch.arange(1, num_frames + 1, dtype=torch.float64).view(-1, 1, 1).expand(-1, size, size)
    write_transforms_json(
        folder, images, centred_intrinsics(num_frames, 20.0, size), poses, depth if with_depth else None
    )


@contextlib.contextmanager
def small_filesystem(path, size: str = "256k"):
    """A tmpfs of ``size`` mounted at ``path`` (created), for real full-disk errors; unmounted afterwards.
    Skips the test where it cannot be mounted: mounting needs root."""
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs to fill needs root to mount; full-disk tests skipped")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs ({mounted.stderr.strip()}); full-disk tests skipped")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def random_rotation(rng) -> np.ndarray:
    """A uniformly random proper rotation (3, 3) float64."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


def known_capture(rng, num_views=9, height=5, width=6) -> dict:
    """A capture in float64 NumPy: cameras around the origin, positive depths, their local and world points."""
    K = intrinsics_from_fov(torch.full((num_views,), 60.0), height, width, dtype=torch.float64).numpy()
    poses = np.tile(np.eye(4), (num_views, 1, 1))
    for view in range(num_views):
        poses[view, :3, :3] = random_rotation(rng)
        poses[view, :3, 3] = rng.normal(size=3)
    depth = rng.uniform(1.0, 3.0, size=(num_views, height, width))
    pixels = np.concatenate([pixel_grid(height, width, dtype=torch.float64).numpy(), np.ones((height, width, 1))], -1)
    local = np.einsum("vij,hwj->vhwi", np.linalg.inv(K), pixels) * depth[..., None]
    world = np.einsum("vij,vhwj->vhwi", poses[:, :3, :3], local) + poses[:, None, None, :3, 3]
    return {
        "K": K,
        "poses": poses,
        "local": local,
        "world": world,
        "confidence": rng.uniform(0.2, 1.0, size=(num_views, height, width)),
        "images": rng.uniform(size=(num_views, 3, height, width)),
    }


def capture_seen_through(truth: dict, views: list[int], matrix: np.ndarray):
    """The ground truth of ``views`` as a ``muskie.recon.prediction.Prediction`` (float64) in the world frame
    ``matrix`` (a similarity as a 4x4) takes it to."""
    from muskie.recon.prediction import Prediction

    scale = np.cbrt(np.linalg.det(matrix[:3, :3]))
    world = truth["world"][views] @ matrix[:3, :3].T + matrix[:3, 3]
    # a camera-to-world pose of the scaled world: the similarity, then the pose, on points scale times longer
    poses = matrix @ truth["poses"][views] @ np.diag([1 / scale, 1 / scale, 1 / scale, 1.0])
    as_tensor = torch.from_numpy
    return Prediction(
        [f"v{v}" for v in views],
        as_tensor(truth["images"][views]),
        as_tensor(scale * truth["local"][views]),
        as_tensor(world),
        as_tensor(truth["confidence"][views]),
        as_tensor(poses),
        as_tensor(truth["K"][views]),
    )


# NRGBD's camera, written from the dataset's facts (60 degrees across 640 px, centred principal point)
NRGBD_FOCAL = 320 / math.tan(math.radians(30))
NRGBD_K = np.array([[NRGBD_FOCAL, 0, 319.5], [0, NRGBD_FOCAL, 239.5], [0, 0, 1]])
NRGBD_WALL = 3.0  # metres: the world plane z = 3 every fixture camera looks at


def nrgbd_camera(i: int) -> np.ndarray:
    """``(4, 4)`` OpenCV camera-to-world of fixture frame ``i``: turned about y by ``4 i - 6`` degrees,
    at x = 0.1 i, y = -0.05 i, z = 0.02 i, looking at the wall."""
    angle = math.radians(4 * i - 6)
    pose = np.eye(4)
    pose[:3, :3] = [[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]]
    pose[:3, 3] = [0.1 * i, -0.05 * i, 0.02 * i]
    return pose


def write_nrgbd_scene(folder, num_frames: int, no_pose: tuple[int, ...] = ()) -> list[np.ndarray]:
    """An NRGBD scene in the authors' layout: frames ``img<i>.png`` (640x480), ``depth<i>.png`` (uint16 mm of
    the wall ``z = NRGBD_WALL``, ray-plane intersections in float64) and ``poses.txt`` (OpenGL axes, ``nan``
    blocks for the frames ``no_pose``). Returns the OpenCV camera-to-world poses."""
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    (folder / "depth").mkdir()
    columns, rows = np.meshgrid(np.arange(640.0), np.arange(480.0))
    rays = np.stack([columns, rows, np.ones_like(rows)], -1) @ np.linalg.inv(NRGBD_K).T
    poses, blocks = [], []
    for i in range(num_frames):
        pose = nrgbd_camera(i)
        poses.append(pose)
        world_z = rays @ pose[2, :3]  # the z component of each ray in the world
        depth = (NRGBD_WALL - pose[2, 3]) / world_z
        Image.fromarray(np.rint(depth * 1000).astype(np.uint16)).save(folder / "depth" / f"depth{i}.png")
        texture = ((columns * 7 + rows * 3 + 40 * i) % 256).astype(np.uint8)
        Image.fromarray(np.stack([texture] * 3, -1)).save(folder / "images" / f"img{i}.png")
        gl = pose @ np.diag([1.0, -1.0, -1.0, 1.0])
        blocks.append("\n".join(" ".join("nan" if i in no_pose else f"{v:.12f}" for v in row) for row in gl))
    (folder / "poses.txt").write_text("\n".join(blocks) + "\n")
    return poses


# `muskie recon train` settings of a run that takes seconds: 3 views of 16x16 pixels on 4 synthetic scenes, narrow
# heads, one thread on the CPU (the backbone is each test's own)
TINY_RECON_RUN = [
    "--set",
    "model.dpt_dim=16",
    "--set",
    "model.camera_dim=16",
    "--set",
    "data.num_views=3",
    "--set",
    "data.size=[16, 16]",
    "--set",
    "data.batch_size=2",
    "--set",
    "data.synthetic_scenes=4",
    "--set",
    "optim.warmup_steps=1",
    "--device",
    "cpu",
    "--no-progress",
    "--threads",
    "1",
]
