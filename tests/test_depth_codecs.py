"""Depth files decoded to z-depth: every encoding on a file with known values, and crafted headers."""

import numpy as np
import pytest
from PIL import Image

from muskie.data.depth_codecs import decode_depth, ray_distance_to_z, read_depth, read_frame_depth
from muskie.data.imageio import ImageReadError
from muskie.data.scene import Frame


def write_pfm(path, array, little_endian=True):
    height, width = array.shape
    with open(path, "wb") as handle:
        handle.write(f"Pf\n{width} {height}\n{-1.0 if little_endian else 1.0}\n".encode())
        handle.write(np.ascontiguousarray(array[::-1], dtype="<f4" if little_endian else ">f4").tobytes())


@pytest.mark.parametrize("little_endian", [True, False])
def test_pfm_rows_run_bottom_up_in_either_byte_order(tmp_path, little_endian):
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_pfm(tmp_path / "d.pfm", depth, little_endian)
    np.testing.assert_array_equal(decode_depth(tmp_path / "d.pfm"), depth)


def test_pfm_header_larger_than_the_file_is_refused(tmp_path):
    path = tmp_path / "d.pfm"
    path.write_bytes(b"Pf\n100000 100000\n-1.0\n" + b"\0" * 16)
    with pytest.raises(ImageReadError, match="d.pfm: PFM header claims 100000x100000"):
        decode_depth(path)


def test_png_holding_float16_bits(tmp_path):
    values = np.array([[0.0, 1.5], [2.25, 1000.0]], dtype=np.float16)
    Image.fromarray(values.view(np.uint16).astype(np.uint16)).save(tmp_path / "d.png")
    np.testing.assert_array_equal(decode_depth(tmp_path / "d.png", "png_float16"), values.astype(np.float32))
    # read as plain integers the same file is nonsense: the encoding matters
    assert decode_depth(tmp_path / "d.png")[0, 1] == values.view(np.uint16)[0, 1]


def test_hdf5_depth_dataset(tmp_path):
    h5py = pytest.importorskip("h5py")
    depth = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle["depth"] = depth
    np.testing.assert_array_equal(decode_depth(tmp_path / "d.h5"), depth)


def test_npy_header_claiming_more_than_the_file_holds_is_refused(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((2, 2), dtype=np.float32))
    data = path.read_bytes()
    header_length = data.index(b"\n") + 1  # the header is padded with spaces to a fixed length
    header = data[:header_length].decode("latin1").replace("(2, 2)", "(1048576, 1048576)")
    header = header.rstrip("\n").rstrip(" ")
    path.write_bytes((header + " " * (header_length - 1 - len(header)) + "\n").encode("latin1") + data[header_length:])
    with pytest.raises(ImageReadError, match="d.npy: cannot read depth array"):
        read_depth(path)


def test_unknown_encoding_is_named():
    with pytest.raises(ValueError, match="unknown depth encoding 'exr'"):
        decode_depth("x.png", "exr")


def test_ray_distance_to_z_known_answer():
    # a plane at z = 2 in front of a camera with skew: the ray distance of pixel (u, v) is 2 * ||K^-1 (u, v, 1)||
    intrinsics = np.array([[50.0, -0.5, 20.3], [0, 48.0, 14.7], [0, 0, 1]])
    v, u = np.meshgrid(np.arange(30.0), np.arange(40.0), indexing="ij")
    x = (u - 20.3 + 0.5 * (v - 14.7) / 48.0) / 50.0
    y = (v - 14.7) / 48.0
    distance = 2.0 * np.sqrt(x * x + y * y + 1)
    np.testing.assert_allclose(ray_distance_to_z(distance, intrinsics), 2.0, rtol=1e-12)


def test_frame_depth_applies_scale_and_ray_conversion(tmp_path):
    intrinsics = np.array([[10.0, 0, 1.5], [0, 10.0, 1.0], [0, 0, 1]])
    v, u = np.meshgrid(np.arange(3.0), np.arange(4.0), indexing="ij")
    distance_mm = 3000.0 * np.sqrt(((u - 1.5) / 10) ** 2 + ((v - 1.0) / 10) ** 2 + 1)
    np.save(tmp_path / "d.npy", distance_mm)
    frame = Frame(
        tmp_path / "i.png",
        4,
        3,
        intrinsics=intrinsics,
        depth_path=tmp_path / "d.npy",
        depth_scale=1e-3,
        depth_along_ray=True,
    )
    np.testing.assert_allclose(read_frame_depth(frame).numpy(), 3.0, rtol=1e-6)
    wrong_size = Frame(
        tmp_path / "i.png", 8, 6, intrinsics=intrinsics, depth_path=tmp_path / "d.npy", depth_along_ray=True
    )
    with pytest.raises(ImageReadError, match="does not match the image's 6x8"):
        read_frame_depth(wrong_size)
