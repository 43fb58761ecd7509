import numpy as np
import pytest
import torch

from muskie.data.transforms import (
    CropBox,
    crop_and_resize,
    crop_intrinsics,
    random_resized_crop,
    resize,
    resize_intrinsics,
    sample_crop,
)

K = torch.tensor([[70.0, 0.0, 41.3], [0.0, 65.0, 28.7], [0.0, 0.0, 1.0]], dtype=torch.float64)
POINT = np.array([0.07, -0.05, 1.6])  # camera coordinates, OpenCV axes


def project(intrinsics, point):
    uvw = intrinsics.numpy() @ point
    return uvw[:2] / uvw[2]


def blob_image(height, width, centre, sigma=2.5):
    """(3, H, W) float64 image of a Gaussian blob at ``centre = (u, v)`` (pixel centres at integers)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    blob = np.exp(-((u - centre[0]) ** 2 + (v - centre[1]) ** 2) / (2 * sigma**2))
    return torch.from_numpy(np.stack([blob, 0.5 * blob, np.zeros_like(blob)]))


def centroid(channel):
    weights = channel.double().numpy()
    v, u = np.mgrid[0 : weights.shape[0], 0 : weights.shape[1]]
    return np.array([(weights * u).sum(), (weights * v).sum()]) / weights.sum()


@pytest.mark.parametrize("out_size", [(24, 32), (32, 32), (48, 40), (90, 120)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_projects_onto_the_same_content_after_crop(out_size, seed):
    image = blob_image(60, 80, project(K, POINT))
    generator = torch.Generator().manual_seed(seed)
    out, k, _ = random_resized_crop(image, out_size, K, scale=(0.8, 1.0), generator=generator)
    assert out.shape == (3, *out_size) and k.dtype == torch.float64
    expected = project(k, POINT)
    np.testing.assert_allclose(centroid(out[0]), expected, atol=0.05)


def test_resize_intrinsics_matches_float64_reference():
    in_size, out_size = (60, 80), (25, 35)
    sy, sx = out_size[0] / in_size[0], out_size[1] / in_size[1]
    k = resize_intrinsics(K, in_size, out_size)
    # a pixel coordinate u maps to (u + 0.5) * s - 0.5
    u, v = project(K, POINT)
    np.testing.assert_allclose(project(k, POINT), [(u + 0.5) * sx - 0.5, (v + 0.5) * sy - 0.5], atol=1e-12)
    cropped = crop_intrinsics(K, top=3, left=7)
    np.testing.assert_allclose(project(cropped, POINT), [u - 7, v - 3], atol=1e-12)
    assert torch.equal(K[2], k[2])


def test_resize_whole_image_and_identity():
    image = blob_image(60, 80, project(K, POINT))
    out, k, _ = resize(image.float(), (30, 40), K)
    np.testing.assert_allclose(centroid(out[0]), project(k, POINT), atol=0.05)
    same, k_same, _ = resize(image, (60, 80), K)
    assert torch.equal(same, image) and torch.equal(k_same, K)


def test_depth_is_resized_by_nearest_centre():
    depth = torch.arange(60 * 80, dtype=torch.float32).reshape(60, 80) + 1
    box = CropBox(top=5, left=9, height=50, width=64)
    _, _, out = crop_and_resize(torch.zeros(3, 60, 80), box, (20, 24), depth=depth)
    rows = np.floor((np.arange(20) + 0.5) * 50 / 20).astype(int) + 5
    cols = np.floor((np.arange(24) + 0.5) * 64 / 24).astype(int) + 9
    np.testing.assert_array_equal(out.numpy(), depth.numpy()[np.ix_(rows, cols)])


def test_crop_keeps_target_aspect_and_scale_range():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        box = sample_crop((480, 640), (224, 224), (0.8, 1.0), generator)
        assert abs(box.width - box.height) <= 1
        assert 0.8 * 480**2 * 0.99 <= box.width * box.height <= 480**2
        assert 0 <= box.top <= 480 - box.height and 0 <= box.left <= 640 - box.width
    full = sample_crop((480, 640), (288, 512), (1.0, 1.0), generator)
    assert (full.height, full.width) == (360, 640)


def test_deterministic_given_generator():
    image = torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(3))
    depth = torch.rand(40, 50, generator=torch.Generator().manual_seed(4))
    first = random_resized_crop(image, (16, 16), K, depth, generator=torch.Generator().manual_seed(7))
    second = random_resized_crop(image, (16, 16), K, depth, generator=torch.Generator().manual_seed(7))
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    boxes = {sample_crop((40, 50), (16, 16), generator=torch.Generator().manual_seed(s)) for s in range(10)}
    assert len(boxes) > 1


def test_bad_inputs():
    with pytest.raises(ValueError, match="scale"):
        sample_crop((10, 10), (5, 5), (0.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        sample_crop((10, 0), (5, 5))
    with pytest.raises(ValueError, match="does not fit"):
        crop_and_resize(torch.zeros(3, 10, 10), CropBox(5, 5, 6, 6), (4, 4))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        resize(torch.zeros(10, 10), (4, 4))
    with pytest.raises(ValueError, match="depth shape"):
        resize(torch.zeros(3, 10, 10), (4, 4), depth=torch.zeros(9, 10))
