import numpy as np
import pytest
from PIL import Image

from muskie.data.scene import Frame, Scene
from muskie.data.sources.colmap import (
    ColmapCamera,
    ColmapImage,
    ColmapPoint3D,
    read_cameras_binary,
    read_colmap_model,
    read_colmap_scene,
    read_images_binary,
    read_images_text,
    read_points3d_binary,
    write_colmap_model,
    write_colmap_scene,
)
from muskie.geometry import quaternion_to_rotation, rotation_to_quaternion


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def make_scene(root, num_views=4, seed=0):
    """A scene with image files under ``root/images`` and random cameras (two sizes, shared intrinsics)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    frames = []
    for view in range(num_views):
        width, height = (8, 6) if view % 2 else (10, 7)
        path = root / "images" / f"{view:03d}.png"
        Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)
        k = np.array([[30.0 + view % 2, 0, 4.25], [0, 31.0, 3.125], [0, 0, 1]])
        pose = np.eye(4)
        pose[:3, :3] = random_rotation(rng)
        pose[:3, 3] = rng.normal(size=3) * 4
        frames.append(Frame(path, width, height, k, pose))
    return Scene(root.name, root, frames)


@pytest.mark.parametrize("binary", [False, True])
def test_scene_round_trip(tmp_path, binary):
    scene = make_scene(tmp_path / "proj")
    write_colmap_scene(tmp_path / "proj" / "sparse" / "0", scene, binary=binary)
    suffix = ".bin" if binary else ".txt"
    assert (tmp_path / "proj" / "sparse" / "0" / f"cameras{suffix}").is_file()
    cameras, _, _ = read_colmap_model(tmp_path / "proj" / "sparse" / "0")
    assert len(cameras) == 2  # frames sharing size and K share a camera
    back = read_colmap_scene(tmp_path / "proj")
    assert back.name == "proj" and len(back) == len(scene)
    for original, frame in zip(scene.frames, back.frames, strict=True):
        assert frame.image_path == original.image_path and frame.image_path.is_file()
        assert (frame.width, frame.height) == (original.width, original.height)
        np.testing.assert_allclose(frame.intrinsics, original.intrinsics, rtol=0, atol=1e-9)
        np.testing.assert_allclose(frame.cam_to_world, original.cam_to_world, rtol=0, atol=1e-9)


def test_pixel_centre_and_pose_conventions(tmp_path):
    # COLMAP: principal point with pixel centres at +0.5, world-to-camera pose
    rotation = quaternion_to_rotation(np.array([np.cos(0.3), 0.0, np.sin(0.3), 0.0]))
    tvec = np.array([0.5, -1.0, 2.0])
    cameras = {7: ColmapCamera(7, "PINHOLE", 20, 10, np.array([11.0, 12.0, 10.0, 5.0]))}
    images = {3: ColmapImage(3, rotation_to_quaternion(rotation), tvec, 7, "x.png")}
    write_colmap_model(tmp_path, cameras, images)
    frame = read_colmap_scene(tmp_path).frames[0]
    np.testing.assert_array_equal(frame.intrinsics, [[11.0, 0, 9.5], [0, 12.0, 4.5], [0, 0, 1]])
    world_point = np.array([0.3, 0.2, 4.0])
    camera_point = rotation @ world_point + tvec
    np.testing.assert_allclose(
        frame.cam_to_world[:3, :3] @ camera_point + frame.cam_to_world[:3, 3], world_point, atol=1e-12
    )


@pytest.mark.parametrize("binary", [False, True])
def test_raw_model_round_trip_with_points(tmp_path, binary):
    cameras = {
        1: ColmapCamera(1, "SIMPLE_RADIAL", 64, 48, np.array([50.0, 32.0, 24.0, 0.01])),
        2: ColmapCamera(2, "OPENCV", 64, 48, np.array([50.0, 51.0, 32.0, 24.0, 0.01, -0.02, 1e-3, 2e-3])),
    }
    images = {
        5: ColmapImage(
            5,
            rotation_to_quaternion(np.eye(3)),
            np.array([0.1, 0.2, 0.3]),
            1,
            "a.png",
            np.array([[1.5, 2.25], [3.0, 4.0]]),
            np.array([9, -1]),
        ),
        6: ColmapImage(6, np.array([1.0, 0, 0, 0]), np.zeros(3), 2, "sub dir/b.png"),
    }
    points = {
        9: ColmapPoint3D(
            9, np.array([1.0, 2.0, 3.0]), np.array([255, 0, 7], np.uint8), 0.25, np.array([5]), np.array([0])
        )
    }
    write_colmap_model(tmp_path, cameras, images, points, binary=binary)
    cams, imgs, pts = read_colmap_model(tmp_path)
    assert cams.keys() == cameras.keys() and imgs.keys() == images.keys() and pts.keys() == points.keys()
    for key, camera in cameras.items():
        assert (cams[key].model, cams[key].width, cams[key].height) == (camera.model, 64, 48)
        np.testing.assert_array_equal(cams[key].params, camera.params)
    for key, image in images.items():
        assert imgs[key].name == image.name and imgs[key].camera_id == image.camera_id
        np.testing.assert_array_equal(imgs[key].qvec, image.qvec)
        np.testing.assert_array_equal(imgs[key].xys, image.xys)
        np.testing.assert_array_equal(imgs[key].point3d_ids, image.point3d_ids)
    np.testing.assert_array_equal(pts[9].xyz, points[9].xyz)
    np.testing.assert_array_equal(pts[9].rgb, points[9].rgb)
    assert pts[9].error == 0.25 and list(pts[9].image_ids) == [5] and list(pts[9].point2d_idxs) == [0]


@pytest.mark.parametrize(
    "model, params, expected",
    [
        ("RADIAL", [10.0, 4.0, 4.0, 0.1, -0.02], ("RADIAL", (0.1, -0.02))),
        ("OPENCV", [10.0, 11.0, 4.0, 4.0, 0.1, -0.02, 1e-3, 2e-3], ("OPENCV", (0.1, -0.02, 1e-3, 2e-3))),
        ("OPENCV_FISHEYE", [10.0, 11.0, 4.0, 4.0, 0.1, 0.2, 0.3, 0.4], ("OPENCV_FISHEYE", (0.1, 0.2, 0.3, 0.4))),
        ("RADIAL_FISHEYE", [10.0, 4.0, 4.0, 0.1, 0.2], ("OPENCV_FISHEYE", (0.1, 0.2, 0.0, 0.0))),
        ("PINHOLE", [10.0, 11.0, 4.0, 4.0], None),
    ],
)
def test_distorted_models_give_the_frame_its_distortion(tmp_path, model, params, expected):
    images = {1: ColmapImage(1, np.array([1.0, 0, 0, 0]), np.zeros(3), 1, "a.png")}
    write_colmap_model(tmp_path, {1: ColmapCamera(1, model, 8, 8, np.array(params))}, images)
    frame = read_colmap_scene(tmp_path).frames[0]
    fy = params[0] if model == "RADIAL" or model == "RADIAL_FISHEYE" else params[1]
    np.testing.assert_array_equal(frame.intrinsics, [[params[0], 0, 3.5], [0, fy, 3.5], [0, 0, 1]])
    got = None if frame.distortion is None else (frame.distortion.model, frame.distortion.params)
    assert got == expected


def test_models_without_a_pinhole_part_are_refused(tmp_path):
    images = {1: ColmapImage(1, np.array([1.0, 0, 0, 0]), np.zeros(3), 1, "a.png")}
    write_colmap_model(tmp_path, {1: ColmapCamera(1, "FOV", 8, 8, np.array([10.0, 10.0, 4.0, 4.0, 0.5]))}, images)
    with pytest.raises(ValueError, match="cameras.txt.*FOV"):
        read_colmap_scene(tmp_path)


def test_binary_preferred_and_model_found_in_sparse(tmp_path):
    scene = make_scene(tmp_path / "p", num_views=2)
    write_colmap_scene(tmp_path / "p" / "sparse", scene, binary=True)
    assert len(read_colmap_scene(tmp_path / "p")) == 2
    (tmp_path / "p" / "sparse" / "cameras.txt").write_text("garbage that would fail\n")
    assert len(read_colmap_scene(tmp_path / "p")) == 2


@pytest.mark.parametrize(
    "name, reader",
    [("cameras.bin", read_cameras_binary), ("images.bin", read_images_binary), ("points3D.bin", read_points3d_binary)],
)
def test_truncated_binary_names_file_and_record(tmp_path, name, reader):
    cameras = {
        1: ColmapCamera(1, "PINHOLE", 8, 8, np.array([10.0, 10.0, 4.0, 4.0])),
        2: ColmapCamera(2, "PINHOLE", 8, 8, np.array([10.0, 10.0, 4.0, 4.0])),
    }
    images = {
        1: ColmapImage(1, np.array([1.0, 0, 0, 0]), np.zeros(3), 1, "a.png"),
        2: ColmapImage(2, np.array([1.0, 0, 0, 0]), np.zeros(3), 2, "b.png", np.ones((3, 2)), np.arange(3)),
    }
    points = {
        1: ColmapPoint3D(1, np.zeros(3), np.zeros(3, np.uint8), 0.0, np.array([1, 2]), np.array([0, 0])),
        2: ColmapPoint3D(2, np.zeros(3), np.zeros(3, np.uint8), 0.0, np.array([1, 2]), np.array([1, 1])),
    }
    write_colmap_model(tmp_path, cameras, images, points, binary=True)
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[:-5])
    with pytest.raises(ValueError, match=rf"{name}: truncated file: \w+ record 1") as info:
        reader(tmp_path / name)
    assert str(tmp_path) in str(info.value)
    (tmp_path / name).write_bytes(data + b"\0")
    with pytest.raises(ValueError, match="unexpected bytes"):
        reader(tmp_path / name)


@pytest.mark.parametrize(
    "file, text, message",
    [
        ("cameras.txt", "# c\n1 PINHOLE 8 8 10 10 4\n", r"cameras.txt: line 2: model PINHOLE takes 4"),
        ("cameras.txt", "1 PINHOLE 8 8 10 10 4 4\n2 WEIRD 8 8 1\n", r"cameras.txt: line 2: unknown camera model"),
        ("cameras.txt", "1 PINHOLE 8 eight 10 10 4 4\n", r"cameras.txt: line 1: malformed camera line"),
        ("images.txt", "1 1 0 0 0 0 0 0 1 a.png\n\n2 1 0 0 0 0 0\n", r"images.txt: line 3: malformed image line"),
        ("images.txt", "1 1 0 0 0 0 0 0 1 a.png\n1.0 2.0\n", r"images.txt: line 2: keypoint line"),
        ("images.txt", "1 1 0 0 0 0 0 0 9 a.png\n\n", r"images.txt: image 1 \(a.png\): camera 9 is not in"),
    ],
)
def test_malformed_text_names_file_and_line(tmp_path, file, text, message):
    (tmp_path / "cameras.txt").write_text("1 PINHOLE 8 8 10 10 4 4\n")
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
    (tmp_path / file).write_text(text)
    with pytest.raises(ValueError, match=message):
        read_colmap_scene(tmp_path)


def test_images_text_tolerates_missing_final_keypoint_line(tmp_path):
    (tmp_path / "images.txt").write_text("# header\n1 1 0 0 0 0 0 0 1 a.png")
    images = read_images_text(tmp_path / "images.txt")
    assert images[1].name == "a.png" and images[1].xys.shape == (0, 2)


def test_missing_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no COLMAP model"):
        read_colmap_scene(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such"):
        read_colmap_scene(tmp_path / "absent")
