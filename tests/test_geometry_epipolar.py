"""Epipolar geometry on constructed camera pairs with known answers."""

import torch
from fixtures import centred_intrinsics, translated

from muskie.geometry import fundamental_matrix, project_points, symmetric_epipolar_distance

SIZE = 16
FOCAL = 16.0
BASELINE = 0.5


def intrinsics(views):
    return centred_intrinsics(views, FOCAL, SIZE)


def random_camera(generator):
    angles = torch.randn(3, generator=generator, dtype=torch.float64) * 0.2
    rotation = torch.linalg.matrix_exp(
        torch.tensor(
            [[0, -angles[2], angles[1]], [angles[2], 0, -angles[0]], [-angles[1], angles[0], 0]], dtype=torch.float64
        )
    )
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = rotation
    pose[:3, 3] = torch.randn(3, generator=generator, dtype=torch.float64) * 0.5
    return pose


def test_epipolar_distance_of_exact_correspondences_is_zero():
    generator = torch.Generator().manual_seed(0)
    K = intrinsics(1)[0].double()
    src, dst = random_camera(generator), random_camera(generator)
    points = torch.randn(50, 3, generator=generator, dtype=torch.float64) + torch.tensor(
        [0, 0, 6.0], dtype=torch.float64
    )
    uv_src, _ = project_points(points, K, src)
    uv_dst, _ = project_points(points, K, dst)
    assert symmetric_epipolar_distance(uv_src, uv_dst, K, src, K, dst).max() < 1e-9


def test_epipolar_distance_of_a_known_offset():
    # rectified pair: epipolar lines are image rows in both views
    K = intrinsics(1)[0].double()
    src, dst = torch.eye(4, dtype=torch.float64), translated(BASELINE).double()
    uv_src = torch.tensor([[3.0, 4.0], [10.0, 12.0]], dtype=torch.float64)
    across = uv_src + torch.tensor([-2.0, 1.5], dtype=torch.float64)  # 1.5 px off the row, anywhere along it
    along = uv_src + torch.tensor([-5.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(
        symmetric_epipolar_distance(uv_src, across, K, src, K, dst), torch.full((2,), 1.5, dtype=torch.float64)
    )
    torch.testing.assert_close(
        symmetric_epipolar_distance(uv_src, along, K, src, K, dst), torch.zeros(2, dtype=torch.float64)
    )


def test_fundamental_matrix_maps_pixels_to_their_epipolar_lines_in_float64():
    generator = torch.Generator().manual_seed(1)
    K_src, K_dst = intrinsics(1)[0], intrinsics(1)[0] * torch.tensor([1.2, 0.9, 1.0])[:, None]  # float32 in
    src, dst = random_camera(generator), random_camera(generator)
    fundamental = fundamental_matrix(K_src, src, K_dst, dst)
    assert fundamental.dtype == torch.float64 and fundamental.shape == (3, 3)
    points = torch.randn(30, 3, generator=generator, dtype=torch.float64) + torch.tensor(
        [0, 0, 6.0], dtype=torch.float64
    )
    uv_src, _ = project_points(points, K_src.double(), src)
    uv_dst, _ = project_points(points, K_dst.double(), dst)
    ones = torch.ones(30, 1, dtype=torch.float64)
    x_src, x_dst = torch.cat([uv_src, ones], -1), torch.cat([uv_dst, ones], -1)
    algebraic = ((x_dst @ (fundamental / fundamental.norm())) * x_src).sum(-1)  # x_dst^T F x_src, F scaled to norm 1
    assert algebraic.abs().max() < 1e-12
    # rank 2: the epipole of the source view is its null vector
    assert torch.linalg.svdvals(fundamental)[2] < 1e-12 * torch.linalg.svdvals(fundamental)[0]
