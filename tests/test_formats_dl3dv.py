"""DL3DV-10K adapter: fixtures in the layout the authors ship (960P frames in images_4, nerfstudio
transforms.json of the full-resolution frames, COLMAP model), conventions checked by projecting known points."""

import json

import numpy as np
import pytest
from PIL import Image

from muskie.data.dataset_paths import OutsideRootError
from muskie.data.formats import FormatError, get_format, read_dataset
from muskie.data.formats.dl3dv import find_scenes, read_scene
from muskie.data.sources.colmap import ColmapCamera, ColmapImage, write_colmap_model
from muskie.geometry import rotation_to_quaternion

HASH = "0a1b" * 16
# full-resolution camera (COLMAP / nerfstudio pixels: the top-left pixel's centre is (0.5, 0.5)) of 160x120
# frames; images_4 holds them at 40x30
FULL = {"w": 160, "h": 120, "fl_x": 100.0, "fl_y": 100.0, "cx": 80.0, "cy": 60.0}


def project(frame, point):
    """Pixel (u, v) of a world point in our convention (OpenCV axes, centres at integer coordinates)."""
    world_to_cam = np.linalg.inv(frame.cam_to_world)
    camera = world_to_cam[:3, :3] @ point + world_to_cam[:3, 3]
    assert camera[2] > 0, "the point must be in front of the camera"
    pixel = frame.intrinsics @ (camera / camera[2])
    return pixel[:2]


def write_frames(folder, count, size=(40, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        Image.fromarray(np.full((size[1], size[0], 3), 10 * index, np.uint8)).save(folder / f"frame_{index:05d}.png")


def make_scene(scene_dir, poses_gl, extra=None, frame_extra=None):
    """A DL3DV scene: images_4 frames and a transforms.json with OpenGL camera-to-world ``poses_gl``."""
    write_frames(scene_dir / "images_4", len(poses_gl))
    frames = [
        {
            "file_path": f"images/frame_{i + 1:05d}.png",
            "transform_matrix": np.asarray(pose).tolist(),
            **(frame_extra or {}),
        }
        for i, pose in enumerate(poses_gl)
    ]
    meta = {
        "camera_model": "OPENCV",
        **FULL,
        "k1": 0.0,
        "k2": 0.0,
        "p1": 0.0,
        "p2": 0.0,
        "frames": frames,
        **(extra or {}),
    }
    (scene_dir / "transforms.json").write_text(json.dumps(meta))
    return scene_dir


def gl_pose(rotation=None, centre=(0.0, 0.0, 0.0)):
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = np.eye(3) if rotation is None else rotation, centre
    return pose


def test_opengl_cameras_project_known_points_where_the_opengl_camera_sees_them(tmp_path):
    # An OpenGL camera looks down its -z with y up. Camera 0 sits at the origin unrotated; camera 1 is at
    # (0, 2, 0); camera 2 is turned 180 degrees about y (looks down world +z). At full resolution the point
    # 1 right, 1 up and 5 ahead of a camera is at COLMAP pixel (80 + 100 / 5, 60 - 100 / 5) = (100, 40), i.e.
    # (25, 10) in the 40x30 frame, (24.5, 9.5) with pixel centres at integers.
    turned = np.diag([-1.0, 1.0, -1.0])
    root = tmp_path / "dl3dv"
    make_scene(root / "1K" / HASH, [gl_pose(), gl_pose(centre=(0.0, 2.0, 0.0)), gl_pose(turned)])
    scene = read_scene(root, f"1K/{HASH}")
    assert scene.name == f"1K/{HASH}" and not scene.metric and len(scene) == 3
    assert all((frame.width, frame.height) == (40, 30) for frame in scene.frames)
    np.testing.assert_allclose(project(scene.frames[0], np.array([1.0, 1.0, -5.0])), [24.5, 9.5], atol=1e-12)
    # seen from 2 up, the same point is 1 below the axis: COLMAP v = 60 + 20 = 80, i.e. 19.5 here
    np.testing.assert_allclose(project(scene.frames[1], np.array([1.0, 1.0, -5.0])), [24.5, 19.5], atol=1e-12)
    np.testing.assert_allclose(project(scene.frames[2], np.array([-1.0, 1.0, 5.0])), [24.5, 9.5], atol=1e-12)
    np.testing.assert_allclose(scene.frames[0].intrinsics, [[25.0, 0, 19.5], [0, 25.0, 14.5], [0, 0, 1]])


def test_distortion_coefficients_reach_the_frame(tmp_path):
    scene_dir = make_scene(tmp_path / HASH, [gl_pose()], extra={"k1": -0.1, "k2": 0.02, "p1": 1e-3, "p2": -2e-3})
    frame = read_scene(tmp_path, HASH).frames[0]
    assert frame.distortion.model == "OPENCV" and frame.distortion.params == (-0.1, 0.02, 1e-3, -2e-3)
    assert frame.image_path == scene_dir / "images_4" / "frame_00001.png"


def test_colmap_model_read_when_there_is_no_transforms_json(tmp_path):
    scene_dir = tmp_path / HASH
    write_frames(scene_dir / "images_4", 2)
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    cameras = {1: ColmapCamera(1, "OPENCV", 160, 120, np.array([100.0, 100.0, 80.0, 60.0, -0.1, 0.02, 0.0, 0.0]))}
    images = {
        7: ColmapImage(7, rotation_to_quaternion(rotation), np.array([0.0, 0.0, 5.0]), 1, "frame_00002.png"),
        3: ColmapImage(3, np.array([1.0, 0, 0, 0]), np.zeros(3), 1, "frame_00001.png"),
    }
    write_colmap_model(scene_dir / "colmap" / "sparse" / "0", cameras, images)
    scene = read_scene(tmp_path, HASH)
    assert [frame.image_path.name for frame in scene.frames] == ["frame_00001.png", "frame_00002.png"]
    frame = scene.frames[1]
    assert frame.distortion.params == (-0.1, 0.02, 0.0, 0.0)
    # COLMAP poses are world-to-camera, x_cam = R x_world + t: the world origin is at (0, 0, 5) in the camera,
    # on its optical axis, so it projects to the principal point (the 40x30 frame's centre)
    np.testing.assert_allclose(project(frame, np.zeros(3)), [19.5, 14.5], atol=1e-12)


def test_images_only_reads_no_camera_file(tmp_path):
    scene_dir = make_scene(tmp_path / HASH, [gl_pose(), gl_pose()])
    (scene_dir / "transforms.json").write_text("not json at all")  # would fail if opened
    scene = read_scene(tmp_path, HASH, cameras=False, depth=False)
    assert len(scene) == 2 and not scene.has_cameras and scene.frames[0].distortion is None
    with pytest.raises(FormatError, match="transforms.json"):
        read_scene(tmp_path, HASH)


def test_bad_poses_skipped_with_a_count(tmp_path):
    bad = gl_pose()
    bad[0, 0] = np.nan
    sheared = gl_pose(np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    make_scene(tmp_path / HASH, [gl_pose(), bad, sheared])  # json.dumps writes the NaN as NaN, as Python's json does
    with pytest.warns(UserWarning, match="skipped 2 frame"):
        scene = read_scene(tmp_path, HASH)
    assert [frame.image_path.name for frame in scene.frames] == ["frame_00001.png"]


def test_frame_paths_stay_inside_the_root(tmp_path):
    root = tmp_path / "root"
    make_scene(root / HASH, [gl_pose()], frame_extra={"file_path": "images/../../../outside.png"})
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "outside.png")
    with pytest.raises(OutsideRootError, match="leads outside"):
        read_scene(root, HASH)


def test_find_scenes_in_subsets_and_benchmark_layouts_and_refuses_other_roots(tmp_path):
    make_scene(tmp_path / "1K" / HASH, [gl_pose()])
    make_scene(tmp_path / "benchmark" / ("f" * 64) / "nerfstudio", [gl_pose()])
    (tmp_path / "2K" / "not-a-scene" / "images_4").mkdir(parents=True)  # frames but no cameras file
    assert find_scenes(tmp_path) == [f"1K/{HASH}", f"benchmark/{'f' * 64}/nerfstudio"]
    assert read_scene(tmp_path / "1K" / HASH, ".").name == HASH  # the root is the scene
    assert len(read_dataset(tmp_path, "dl3dv")) == 2 and get_format("dl3dv").window == 64
    with pytest.raises(FormatError, match="not a DL3DV-10K root: expected scene folders"):
        find_scenes(tmp_path / "2K")


def test_frames_that_are_not_a_resized_copy_are_refused(tmp_path):
    make_scene(tmp_path / HASH, [gl_pose()], extra={"w": 160, "h": 160})
    with pytest.raises(FormatError, match="160x160 images but the images are 40x30"):
        read_scene(tmp_path, HASH)


def test_a_zero_image_size_in_transforms_json_is_refused(tmp_path):
    make_scene(tmp_path / HASH, [gl_pose()], extra={"w": 0})
    with pytest.raises(FormatError, match="frame 0 and .*: cameras are for images of size 0x120"):
        read_scene(tmp_path, HASH)


def test_a_root_of_linked_scene_folders_reads_and_odd_scene_ids_are_refused(tmp_path):
    make_scene(tmp_path / "disk2" / HASH, [gl_pose(), gl_pose()])
    (tmp_path / "root" / "1K").mkdir(parents=True)
    (tmp_path / "root" / "1K" / HASH).symlink_to(tmp_path / "disk2" / HASH)
    assert find_scenes(tmp_path / "root") == [f"1K/{HASH}"]
    assert len(read_scene(tmp_path / "root", f"1K/{HASH}")) == 2
    for bad in ("../disk2", "1K//x", "/abs"):
        with pytest.raises(FormatError, match="scene id must be a relative folder path"):
            read_scene(tmp_path / "root", bad)
