"""WildRGB-D adapter: a fixture in the native layout with a non-symmetric ``K`` stored column-major, and a
world point seen in two frames that lands where the camera-to-world poses say."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FormatError, read_dataset
from muskie.data.formats.wildrgbd import find_scenes, read_scene
from muskie.geometry import look_at, project_points, unproject

WIDTH, HEIGHT = 40, 30
K = np.array([[50.0, 0.0, 22.0], [0.0, 60.0, 13.0], [0.0, 0.0, 1.0]])  # fx != fy, cx != cy: K != K^T
SCENE = "chair/scenes/scene_003"
DEPTH_MM = 750


def poses():
    eyes = [(0.0, 0.0, -1.0), (0.4, -0.1, -0.9), (-0.3, 0.2, -0.95)]
    return [
        look_at(
            torch.tensor(eye, dtype=torch.float64),
            torch.zeros(3, dtype=torch.float64),
            torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64),
        ).numpy()
        for eye in eyes
    ]


def make_wildrgbd(root, metadata=None, pose_rows=None):
    """A WildRGB-D root with one scene of three frames; depth is 750 mm everywhere."""
    scene = root / SCENE
    for folder in ("rgb", "depth", "masks"):
        (scene / folder).mkdir(parents=True)
    for index in range(3):
        Image.new("RGB", (WIDTH, HEIGHT), (index * 50, 10, 10)).save(scene / "rgb" / f"{index:05d}.png")
        Image.fromarray(np.full((HEIGHT, WIDTH), DEPTH_MM, np.uint16)).save(scene / "depth" / f"{index:05d}.png")
        Image.new("L", (WIDTH, HEIGHT), 255).save(scene / "masks" / f"{index:05d}.png")
    meta = {"K": K.T.flatten().tolist(), "w": WIDTH, "h": HEIGHT} if metadata is None else metadata
    (scene / "metadata").write_text(json.dumps(meta))
    if pose_rows is None:
        pose_rows = [[index, *pose.flatten()] for index, pose in enumerate(poses())]
    (scene / "cam_poses.txt").write_text("".join(" ".join(str(v) for v in row) + "\n" for row in pose_rows))
    return scene


def test_column_major_intrinsics(tmp_path):
    make_wildrgbd(tmp_path)
    scene = read_scene(tmp_path, SCENE)
    assert scene.metric and scene.has_cameras and scene.has_depth and len(scene) == 3
    for frame in scene.frames:
        np.testing.assert_array_equal(frame.intrinsics, K)
        assert (frame.width, frame.height) == (WIDTH, HEIGHT)


def test_row_major_intrinsics_are_refused(tmp_path):
    make_wildrgbd(tmp_path, metadata={"K": K.flatten().tolist(), "w": WIDTH, "h": HEIGHT})
    with pytest.raises(FormatError, match="metadata: 'K' read column-major must be a finite pinhole matrix"):
        read_scene(tmp_path, SCENE)


def test_a_point_seen_in_two_frames_lands_where_the_poses_say(tmp_path):
    make_wildrgbd(tmp_path)
    first, second = read_scene(tmp_path, SCENE).frames[:2]
    # the world point behind pixel (10, 20) of frame 0 at the stored 750 mm, from the poses as written
    pixel = np.array([10.0, 20.0])
    camera_point = DEPTH_MM / 1000 * np.linalg.inv(K) @ np.array([*pixel, 1.0])
    world = poses()[0][:3, :3] @ camera_point + poses()[0][:3, 3]
    in_second = np.linalg.inv(poses()[1]) @ np.array([*world, 1.0])
    expected = (K @ in_second[:3])[:2] / in_second[2]

    depth = read_frame_depth(first).double()
    assert depth[20, 10].item() == pytest.approx(0.75)
    lifted = unproject(
        torch.from_numpy(pixel)[None],
        depth[20, 10][None],
        torch.from_numpy(first.intrinsics),
        torch.from_numpy(first.cam_to_world),
    )
    np.testing.assert_allclose(lifted.numpy()[0], world, atol=1e-9)
    uv, z = project_points(lifted, torch.from_numpy(second.intrinsics), torch.from_numpy(second.cam_to_world))
    np.testing.assert_allclose(uv.numpy()[0], expected, atol=1e-9)
    assert z.item() == pytest.approx(in_second[2])
    assert not np.allclose(expected, pixel)  # the frames really see the point at different pixels


def test_images_only_opens_no_camera_or_depth_file(tmp_path):
    scene_dir = make_wildrgbd(tmp_path)
    (scene_dir / "metadata").unlink()
    (scene_dir / "cam_poses.txt").unlink()
    scene = read_scene(tmp_path, SCENE, cameras=False, depth=False)
    assert len(scene) == 3 and not scene.has_cameras and not scene.has_depth
    assert (scene.frames[0].width, scene.frames[0].height) == (WIDTH, HEIGHT)
    assert scene.frames[2].mask_path == scene_dir / "masks" / "00002.png"
    with pytest.raises(FormatError, match="metadata: no such file"):
        read_scene(tmp_path, SCENE)


def test_missing_and_unusable_poses_are_skipped_with_warnings(tmp_path):
    rows = [[index, *pose.flatten()] for index, pose in enumerate(poses())]
    rows[1][5] = float("inf")
    make_wildrgbd(tmp_path, pose_rows=[rows[0], rows[1]])
    with pytest.warns(UserWarning) as caught:
        scene = read_scene(tmp_path, SCENE)
    messages = " ".join(str(warning.message) for warning in caught)
    assert "no pose for 1 frame(s)" in messages and "skipped 1 frame(s) with a non-finite or non-rigid" in messages
    assert [frame.image_path.name for frame in scene.frames] == ["00000.png"]


def test_malformed_files_are_named(tmp_path):
    scene_dir = make_wildrgbd(tmp_path)
    (scene_dir / "cam_poses.txt").write_text("0 1 2 3\n")
    with pytest.raises(FormatError, match=r"cam_poses.txt: line 1: expected a frame id and 16 values, got 4"):
        read_scene(tmp_path, SCENE)
    (scene_dir / "metadata").write_text('{"K": [1, 2,')
    with pytest.raises(FormatError, match="metadata: malformed JSON"):
        read_scene(tmp_path, SCENE)


def test_images_of_another_size_than_the_metadata_are_refused(tmp_path):
    make_wildrgbd(tmp_path, metadata={"K": K.T.flatten().tolist(), "w": 2 * WIDTH, "h": 2 * HEIGHT})
    with pytest.raises(FormatError, match=r"00000.png: image is \(40, 30\), but .*metadata gives K for \(80, 60\)"):
        read_scene(tmp_path, SCENE)


def test_roots_and_layouts_that_are_not_wildrgbd(tmp_path):
    make_wildrgbd(tmp_path)
    assert find_scenes(tmp_path) == [SCENE]
    assert [scene.name for scene in read_dataset(tmp_path, "wildrgbd", cameras=False)] == [SCENE]
    with pytest.raises(FormatError, match="not a WildRGB-D root: expected <category>/scenes/<scene>/rgb/"):
        find_scenes(tmp_path / SCENE)
    preprocessed = tmp_path / "chair" / "scenes" / "scene_004"
    (preprocessed / "rgb").mkdir(parents=True)
    (preprocessed / "metadata").mkdir()
    with pytest.raises(FormatError, match="the DUSt3R-preprocessed layout; use format 'dust3r'"):
        read_scene(tmp_path, "chair/scenes/scene_004")
