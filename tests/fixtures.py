"""Small test objects several test files build: random rigid poses, a pinhole camera row, a small Muskie."""

import torch

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
