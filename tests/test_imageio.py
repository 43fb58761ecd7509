import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.depth_codecs import read_depth
from muskie.data.imageio import ImageReadError, image_size, read_image


def _rgb(height=5, width=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_rgb_png_and_jpeg(tmp_path):
    pixels = _rgb()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.dtype == torch.float32 and image.shape == (3, 5, 7)
    np.testing.assert_allclose(image.numpy(), pixels.transpose(2, 0, 1) / 255.0, atol=1e-7)
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=95)
    assert read_image(tmp_path / "a.jpg").shape == (3, 5, 7)


def test_grayscale_is_repeated(tmp_path):
    gray = _rgb()[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.shape == (3, 5, 7)
    for channel in image:
        np.testing.assert_allclose(channel.numpy(), gray / 255.0, atol=1e-7)


def test_16bit_grayscale_scaled_to_unit_range(tmp_path):
    gray = np.array([[0, 1000, 65535]], dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    np.testing.assert_allclose(image[0, 0].numpy(), gray[0] / 65535.0, atol=1e-7)


def test_rgba_drops_or_composites_alpha(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = [[255, 0], [51, 255]]
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    dropped = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(dropped[0].numpy(), 200 / 255.0, atol=1e-7)
    over_white = read_image(tmp_path / "a.png", background=1.0)
    alpha = rgba[..., 3] / 255.0
    np.testing.assert_allclose(over_white[0].numpy(), 200 / 255.0 * alpha + (1 - alpha), atol=1e-6)
    np.testing.assert_allclose(over_white[1].numpy(), 1 - alpha, atol=1e-6)


def test_exif_orientation_applied(tmp_path):
    pixels = _rgb(4, 6)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    image.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (3, 6, 4)
    assert image_size(tmp_path / "r.jpg") == (4, 6)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.png.*0 bytes"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ImageReadError, match="empty.png"):
        image_size(tmp_path / "empty.png")


def test_truncated_file(tmp_path):
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.png"):
        read_image(tmp_path / "cut.png")


def test_corrupt_file(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image" * 10)
    with pytest.raises(ImageReadError, match="junk.jpg"):
        read_image(tmp_path / "junk.jpg")
    assert issubclass(ImageReadError, ValueError)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)


def test_read_depth_png_millimetres_and_npy(tmp_path):
    stored = np.array([[0, 1500], [65535, 20]], dtype=np.uint16)
    Image.fromarray(stored).save(tmp_path / "d.png")
    depth = read_depth(tmp_path / "d.png", scale=1e-3)
    assert depth.dtype == torch.float32
    np.testing.assert_allclose(depth.numpy(), stored * 1e-3, rtol=1e-6)
    metres = np.array([[1.0, np.nan], [-2.0, 3.5]])
    np.save(tmp_path / "d.npy", metres)
    np.testing.assert_array_equal(read_depth(tmp_path / "d.npy").numpy(), [[1.0, 0.0], [0.0, 3.5]])


def test_read_depth_rejects_colour_images(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "c.png")
    with pytest.raises(ImageReadError, match="c.png.*single-channel"):
        read_depth(tmp_path / "c.png")
