import json

import numpy as np
import pytest
import torch

from muskie.data.depth_codecs import read_depth
from muskie.data.imageio import read_image
from muskie.data.sources.transforms_json import read_transforms_json, write_transforms_json


def random_poses(num_views, seed=0):
    """(V, 4, 4) float64 rigid camera-to-world poses."""
    rng = np.random.default_rng(seed)
    poses = np.tile(np.eye(4), (num_views, 1, 1))
    for pose in poses:
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.diag(r))
        pose[:3, :3] = q if np.linalg.det(q) > 0 else -q
        pose[:3, 3] = rng.normal(size=3) * 3
    return poses


def random_intrinsics(num_views, seed=0):
    rng = np.random.default_rng(seed)
    k = np.tile(np.eye(3), (num_views, 1, 1))
    k[:, 0, 0] = rng.uniform(20, 40, num_views)
    k[:, 1, 1] = rng.uniform(20, 40, num_views)
    k[:, 0, 2] = rng.uniform(3, 6, num_views) + 1 / 3
    k[:, 1, 2] = rng.uniform(2, 4, num_views) + 1 / 7
    return k


def test_round_trip_is_exact_for_cameras(tmp_path):
    views, height, width = 3, 6, 9
    images = torch.rand(views, 3, height, width, generator=torch.Generator().manual_seed(0))
    depth = torch.rand(views, height, width, generator=torch.Generator().manual_seed(1)) * 10
    depth[0, 0, 0] = 0.0
    intrinsics, poses = random_intrinsics(views), random_poses(views)
    write_transforms_json(tmp_path / "scene", images, intrinsics, torch.from_numpy(poses), depth)

    scene = read_transforms_json(tmp_path / "scene")
    assert scene.name == "scene" and len(scene) == views and scene.has_cameras and scene.has_depth
    for view, frame in enumerate(scene.frames):
        assert (frame.width, frame.height) == (width, height)
        np.testing.assert_allclose(frame.intrinsics, intrinsics[view], rtol=0, atol=1e-9)
        np.testing.assert_allclose(frame.cam_to_world, poses[view], rtol=0, atol=1e-9)
        np.testing.assert_allclose(read_image(frame.image_path), images[view], atol=0.5 / 255 + 1e-6)
        stored = read_depth(frame.depth_path, frame.depth_scale)
        np.testing.assert_allclose(stored, depth[view], atol=0.5e-3 + 1e-6)
        assert stored[0, 0] == 0 or view != 0


def test_depth_is_stored_in_steps_of_the_given_scale(tmp_path):
    depth = torch.linspace(0.001, 0.3, 2 * 4 * 5, dtype=torch.float64).reshape(2, 4, 5)
    scale = 0.3 / 65535  # the largest depth takes the largest step count
    write_transforms_json(
        tmp_path, torch.zeros(2, 3, 4, 5), random_intrinsics(2), random_poses(2), depth, depth_scale=scale
    )
    scene = read_transforms_json(tmp_path)
    assert scene.frames[0].depth_scale == scale
    for view, frame in enumerate(scene.frames):
        np.testing.assert_allclose(
            read_depth(frame.depth_path, frame.depth_scale), depth[view], atol=scale / 2 * (1 + 1e-6), rtol=0
        )


def test_opengl_pose_converted_to_opencv(tmp_path):
    # an OpenGL camera at (0, 0, 5) looking down -z (its "backwards" axis +z points away from the origin)
    gl_pose = np.eye(4)
    gl_pose[2, 3] = 5.0
    meta = {
        "fl_x": 10,
        "fl_y": 10,
        "cx": 1.5,
        "cy": 1.5,
        "w": 4,
        "h": 4,
        "frames": [{"file_path": "images/a.png", "transform_matrix": gl_pose.tolist()}],
    }
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    pose = read_transforms_json(tmp_path).frames[0].cam_to_world
    # OpenCV: z forward points at the origin, y down is world -y
    np.testing.assert_array_equal(pose[:3, 2], [0, 0, -1])
    np.testing.assert_array_equal(pose[:3, 1], [0, -1, 0])
    np.testing.assert_array_equal(pose[:3, 3], [0, 0, 5])


def test_global_intrinsics_per_frame_overrides_and_camera_angle(tmp_path):
    meta = {
        "w": 8,
        "h": 6,
        "camera_angle_x": 2 * np.arctan(0.5),
        "depth_unit_scale_factor": 0.01,
        "frames": [
            {"file_path": "a.png", "transform_matrix": np.eye(4)[:3].tolist(), "depth_file_path": "a_d.png"},
            {
                "file_path": "b.png",
                "transform_matrix": np.eye(4).tolist(),
                "fl_x": 3.0,
                "fl_y": 4.0,
                "cx": 1.0,
                "cy": 2.0,
                "w": 10,
                "h": 12,
            },
        ],
    }
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    first, second = read_transforms_json(tmp_path / "transforms.json").frames
    np.testing.assert_allclose(first.intrinsics, [[8.0, 0, 3.5], [0, 8.0, 2.5], [0, 0, 1]], atol=1e-12)
    assert first.depth_scale == 0.01 and first.depth_path == tmp_path / "a_d.png"
    np.testing.assert_array_equal(second.intrinsics, [[3.0, 0, 1.0], [0, 4.0, 2.0], [0, 0, 1]])
    assert (second.width, second.height) == (10, 12)


def test_distortion_warns(tmp_path):
    meta = {
        "fl_x": 10,
        "fl_y": 10,
        "cx": 1,
        "cy": 1,
        "w": 4,
        "h": 4,
        "k1": 0.1,
        "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}],
    }
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="distortion"):
        read_transforms_json(tmp_path)


def test_missing_scene(tmp_path):
    with pytest.raises(FileNotFoundError, match="transforms.json"):
        read_transforms_json(tmp_path / "absent")


def test_malformed_json_names_file_and_line(tmp_path):
    (tmp_path / "transforms.json").write_text('{"frames": [\n {"file_path": "a.png",,}\n]}')
    with pytest.raises(ValueError, match=r"transforms.json: malformed JSON at line 2"):
        read_transforms_json(tmp_path)


@pytest.mark.parametrize(
    "frame, message",
    [
        ({"transform_matrix": np.eye(4).tolist()}, "frame 0: missing 'file_path'"),
        ({"file_path": "a.png"}, r"frame 0 \(a.png\): missing 'transform_matrix'"),
        ({"file_path": "a.png", "transform_matrix": [[1, 0], [0, 1]]}, "4x4 or 3x4"),
        ({"file_path": "a.png", "transform_matrix": "eye"}, "transform_matrix"),
        ({"file_path": "a.png", "transform_matrix": np.eye(4).tolist(), "fl_x": "big"}, "'fl_x' must be"),
    ],
)
def test_bad_frame_entries_name_file_and_frame(tmp_path, frame, message):
    meta = {"fl_x": 10, "fl_y": 10, "cx": 1, "cy": 1, "w": 4, "h": 4, "frames": [frame]}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message) as info:
        read_transforms_json(tmp_path)
    assert str(tmp_path / "transforms.json") in str(info.value)


def test_empty_frames_rejected(tmp_path):
    (tmp_path / "transforms.json").write_text(json.dumps({"frames": []}))
    with pytest.raises(ValueError, match="empty"):
        read_transforms_json(tmp_path)


def test_writer_validates_inputs(tmp_path):
    images = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match="intrinsics must have shape"):
        write_transforms_json(tmp_path, images, np.eye(3), random_poses(2))
    skewed = random_intrinsics(2)
    skewed[0, 0, 1] = 0.1
    with pytest.raises(ValueError, match="skew"):
        write_transforms_json(tmp_path, images, skewed, random_poses(2))
    with pytest.raises(ValueError, match="exceeds 65.535 "):
        write_transforms_json(tmp_path, images, random_intrinsics(2), random_poses(2), torch.full((2, 4, 4), 70.0))
    with pytest.raises(ValueError, match="exceeds 6.5535 "):
        write_transforms_json(
            tmp_path, images, random_intrinsics(2), random_poses(2), torch.full((2, 4, 4), 7.0), depth_scale=1e-4
        )
