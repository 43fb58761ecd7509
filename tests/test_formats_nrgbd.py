"""NRGBD: a scene built in the authors' layout (stacked OpenGL poses, ``nan`` blocks, unpadded frame numbers)
reads back with OpenCV poses and metric depth that put every pixel on the wall it was rendered from."""

import numpy as np
import pytest
import torch
from fixtures import NRGBD_K, NRGBD_WALL, write_nrgbd_scene

from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FormatError, read_dataset
from muskie.data.formats.nrgbd import INTRINSICS
from muskie.geometry import unproject_depth


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nrgbd")
    write_nrgbd_scene(root / "kitchen", 12, no_pose=(3,))
    return root


def test_frames_in_number_order_and_a_nan_pose_skipped_with_a_count(root):
    with pytest.warns(UserWarning, match="skipped 1 frame"):
        (scene,) = read_dataset(root, "nrgbd")
    assert scene.name == "kitchen" and scene.metric and scene.has_depth
    numbers = [int(f.image_path.stem[3:]) for f in scene.frames]
    assert numbers == [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]  # img10 after img9, img3 has no pose
    np.testing.assert_allclose(INTRINSICS, NRGBD_K)


def test_opengl_poses_become_opencv_and_depth_is_metres(root):
    """Each frame's depth lifted with the adapter's K and pose lands on the wall z = 3 m (to the mm rounding of
    the PNG); read without the axis flip, the points would lie behind the camera."""
    with pytest.warns(UserWarning):
        (scene,) = read_dataset(root, "nrgbd")
    for frame in scene.frames:
        depth = read_frame_depth(frame).double()
        points = unproject_depth(depth, torch.from_numpy(frame.intrinsics), torch.from_numpy(frame.cam_to_world))
        assert float((points[..., 2] - NRGBD_WALL).abs().max()) < 2e-3
        assert frame.cam_to_world[2, 2] > 0.7  # the camera looks along +z (turned at most 38 degrees), at the wall


def test_images_only_reads_no_pose_file(tmp_path):
    write_nrgbd_scene(tmp_path / "room", 2)
    (tmp_path / "room" / "poses.txt").unlink()
    (scene,) = read_dataset(tmp_path, "nrgbd", cameras=False, depth=False)
    assert len(scene) == 2 and scene.frames[0].cam_to_world is None and not scene.has_depth
    with pytest.raises(FileNotFoundError, match="poses.txt"):
        read_dataset(tmp_path, "nrgbd")


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "1 poses, but the scene has frame img1.png"),
        ("1 0 0\n", "line 1: expected 4 numbers"),
        ("1 0 0 0\n0 1 0 0\n", "not a whole number of 4x4 poses"),
    ],
)
def test_a_bad_pose_file_is_refused_naming_it(tmp_path, text, message):
    write_nrgbd_scene(tmp_path / "room", 2)
    (tmp_path / "room" / "poses.txt").write_text(text)
    with pytest.raises(FormatError, match=message):
        read_dataset(tmp_path, "nrgbd")


def test_a_root_without_scenes_is_refused(tmp_path):
    (tmp_path / "room" / "images").mkdir(parents=True)
    with pytest.raises(FormatError, match="not a NRGBD root"):
        read_dataset(tmp_path, "nrgbd")
