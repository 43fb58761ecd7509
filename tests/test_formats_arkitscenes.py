"""ARKitScenes adapter: fixtures in the raw layout (lowres_wide frames, .pincam per frame, a .traj of
world-to-camera axis-angle poses at other timestamps), interpolation and pose direction with known answers."""

import math

import numpy as np
import pytest
from PIL import Image

from muskie.data.formats import FormatError, get_format
from muskie.data.formats.arkitscenes import find_scenes, interpolate_poses, read_scene

VIDEO = "41069021"
K_LINE = "256 192 200.0 201.0 127.5 95.5"


def rot_z(degrees):
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


def make_video(root, frame_seconds, traj_lines, pincam_seconds=None, depth=True, split="Training"):
    """A video folder with 256x192 frames at ``frame_seconds`` (strings, as in the names), a .pincam for each
    (or for ``pincam_seconds``), 16-bit depth and the given .traj lines."""
    video = root / split / VIDEO
    for folder in ("lowres_wide", "lowres_wide_intrinsics", "lowres_depth"):
        (video / folder).mkdir(parents=True, exist_ok=True)
    for seconds in frame_seconds:
        Image.fromarray(np.zeros((192, 256, 3), np.uint8)).save(video / "lowres_wide" / f"{VIDEO}_{seconds}.png")
        if depth:
            depth_map = Image.fromarray(np.full((192, 256), 1500, np.uint16))
            depth_map.save(video / "lowres_depth" / f"{VIDEO}_{seconds}.png")
    for seconds in pincam_seconds if pincam_seconds is not None else frame_seconds:
        (video / "lowres_wide_intrinsics" / f"{VIDEO}_{seconds}.pincam").write_text(K_LINE + "\n")
    (video / "lowres_wide.traj").write_text("\n".join(traj_lines) + "\n")
    return video


def test_rotation_halfway_between_two_samples_is_the_half_angle():
    # world-to-camera: sample 0 is the identity at centre 0; sample 1 is R = rot_z(90) with centre (2, 0, 0),
    # i.e. t = -R c = (0, -2, 0). Halfway in time: camera-to-world rotation rot_z(-45), centre (1, 0, 0).
    times = np.array([10.0, 10.2])
    rotvecs = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, math.pi / 2]])
    translations = np.array([[0.0, 0.0, 0.0], [0.0, -2.0, 0.0]])
    poses = interpolate_poses(times, rotvecs, translations, np.array([10.1, 10.0, 10.2, 10.05]))
    np.testing.assert_allclose(poses[0, :3, :3], rot_z(-45), atol=1e-12)
    np.testing.assert_allclose(poses[0, :3, 3], [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(poses[1, :3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(poses[2, :3, :3], rot_z(-90), atol=1e-12)
    np.testing.assert_allclose(poses[2, :3, 3], [2.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(poses[3, :3, :3], rot_z(-22.5), atol=1e-12)  # constant angular speed


def test_pose_is_inverted_to_camera_to_world_and_k_from_the_pincam(tmp_path):
    # world-to-camera t = (0, 0, -3): the camera sits at world (0, 0, 3) looking down +z (OpenCV axes); the
    # world point (1, 0, 5) is 2 ahead and 1 right: pixel (127.5 + 200 / 2, 95.5)
    make_video(tmp_path, ["100.000", "100.100"], ["99.95 0 0 0 0 0 -3", "100.15 0 0 0 0 0 -3"])
    scene = read_scene(tmp_path, f"Training/{VIDEO}")
    assert scene.metric and len(scene) == 2 and scene.has_depth and scene.frames[0].depth_scale == 1e-3
    frame = scene.frames[0]
    np.testing.assert_allclose(frame.cam_to_world[:3, 3], [0.0, 0.0, 3.0], atol=1e-12)
    world_to_cam = np.linalg.inv(frame.cam_to_world)
    camera = world_to_cam[:3, :3] @ np.array([1.0, 0.0, 5.0]) + world_to_cam[:3, 3]
    pixel = frame.intrinsics @ (camera / camera[2])
    np.testing.assert_allclose(pixel[:2], [227.5, 95.5], atol=1e-12)


def test_frames_between_samples_are_interpolated_and_outside_ones_skipped(tmp_path):
    traj = ["10.0 0 0 0 0 0 0", f"10.2 0 0 {math.pi / 2} 0 -2 0"]
    make_video(tmp_path, ["9.900", "10.000", "10.100", "10.200", "10.300"], traj)
    with pytest.warns(UserWarning, match=r"skipped 2 frame\(s\) outside the trajectory's time range"):
        scene = read_scene(tmp_path, f"Training/{VIDEO}")
    kept = ("10.000", "10.100", "10.200")
    assert [frame.image_path.name for frame in scene.frames] == [f"{VIDEO}_{s}.png" for s in kept]
    np.testing.assert_allclose(scene.frames[1].cam_to_world[:3, :3], rot_z(-45), atol=1e-12)
    np.testing.assert_allclose(scene.frames[1].cam_to_world[:3, 3], [1.0, 0.0, 0.0], atol=1e-12)


def test_pincam_one_millisecond_off_is_found_and_missing_ones_skipped(tmp_path):
    traj = ["1.0 0 0 0 0 0 0", "2.0 0 0 0 0 0 0"]
    make_video(tmp_path, ["1.100", "1.200", "1.300"], traj, pincam_seconds=["1.101", "1.199"])
    with pytest.warns(UserWarning, match=r"skipped 1 frame\(s\) without a .pincam"):
        scene = read_scene(tmp_path, f"Training/{VIDEO}")
    assert len(scene) == 2
    np.testing.assert_array_equal(scene.frames[0].intrinsics, [[200.0, 0, 127.5], [0, 201.0, 95.5], [0, 0, 1]])


def test_frames_next_to_a_non_finite_sample_are_skipped_with_a_count(tmp_path):
    traj = ["1.0 0 0 0 0 0 0", "2.0 nan 0 0 0 0 0", "3.0 0 0 0 0 0 0", "4.0 0 0 0 0 0 0"]
    make_video(tmp_path, ["1.500", "2.500", "3.500"], traj)
    with pytest.warns(UserWarning, match="skipped 2 frame"):
        scene = read_scene(tmp_path, f"Training/{VIDEO}")
    assert [frame.image_path.name for frame in scene.frames] == [f"{VIDEO}_3.500.png"]


def test_images_only_opens_no_camera_file_and_no_depth(tmp_path):
    video = make_video(tmp_path, ["1.100", "1.200"], ["this is not a trajectory"])
    for pincam in (video / "lowres_wide_intrinsics").iterdir():
        pincam.write_text("garbage")
    scene = read_scene(tmp_path, f"Training/{VIDEO}", cameras=False, depth=False)
    assert len(scene) == 2 and not scene.has_cameras and not scene.has_depth
    assert (scene.frames[0].width, scene.frames[0].height) == (256, 192)
    assert read_scene(tmp_path, f"Training/{VIDEO}", cameras=False).has_depth
    with pytest.raises(FormatError, match=r"lowres_wide.traj: line 1: not numbers"):
        read_scene(tmp_path, f"Training/{VIDEO}")


def test_find_scenes_and_a_root_that_is_not_arkitscenes(tmp_path):
    make_video(tmp_path / "raw", ["1.000"], ["1.0 0 0 0 0 0 0"])
    make_video(tmp_path / "raw", ["1.000"], ["1.0 0 0 0 0 0 0"], split="Validation")
    assert find_scenes(tmp_path) == [f"raw/Training/{VIDEO}", f"raw/Validation/{VIDEO}"]
    assert find_scenes(tmp_path / "raw" / "Training" / VIDEO) == ["."]
    assert get_format("arkitscenes").window == 32
    (tmp_path / "other" / "images").mkdir(parents=True)
    with pytest.raises(FormatError, match="not an ARKitScenes root: expected video folders"):
        find_scenes(tmp_path / "other")


def test_badly_named_frames_and_pincams_are_refused(tmp_path):
    video = make_video(tmp_path, ["1.000"], ["1.0 0 0 0 0 0 0"])
    (video / "lowres_wide_intrinsics" / f"{VIDEO}_1.000.pincam").write_text("256 192 200")
    with pytest.raises(FormatError, match=r"pincam: expected six finite numbers"):
        read_scene(tmp_path, f"Training/{VIDEO}")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(video / "lowres_wide" / "frame.png")
    with pytest.raises(FormatError, match=r"frame.png: expected a frame named <video_id>_<seconds>.png"):
        read_scene(tmp_path, f"Training/{VIDEO}", cameras=False)


def test_frames_without_depth_are_skipped_only_when_depth_is_asked_for(tmp_path):
    video = make_video(tmp_path, ["1.100", "1.200", "1.300"], ["1.0 0 0 0 0 0 0", "2.0 0 0 0 0 0 0"])
    (video / "lowres_depth" / f"{VIDEO}_1.200.png").unlink()
    with pytest.warns(UserWarning, match=r"skipped 1 frame\(s\) without a depth map"):
        scene = read_scene(tmp_path, f"Training/{VIDEO}")
    assert len(scene) == 2 and scene.has_depth
    assert len(read_scene(tmp_path, f"Training/{VIDEO}", depth=False)) == 3


def test_the_3dod_subset_layout_is_found(tmp_path):
    video = make_video(tmp_path / "3dod", ["1.000"], ["1.0 0 0 0 0 0 0"])
    frames_dir = video / f"{VIDEO}_frames"
    frames_dir.mkdir()
    for child in list(video.iterdir()):
        if child != frames_dir:
            child.rename(frames_dir / child.name)
    assert find_scenes(tmp_path) == [f"3dod/Training/{VIDEO}/{VIDEO}_frames"]
    assert len(read_scene(tmp_path, f"3dod/Training/{VIDEO}/{VIDEO}_frames")) == 1


def test_scene_names(tmp_path):
    video = make_video(tmp_path, ["1.000", "1.100"], ["1.0 0 0 0 0 0 0", "2.0 0 0 0 0 0 0"])
    assert read_scene(tmp_path, f"Training/{VIDEO}").name == f"Training/{VIDEO}"
    assert read_scene(video, ".").name == VIDEO


def test_a_trajectory_row_of_the_wrong_length_names_its_line(tmp_path):
    make_video(tmp_path, ["1.100", "1.200"], ["1.0 0 0 0 0 0 0", "2.0 0 0 0 0 0"])
    with pytest.raises(FormatError, match=r"lowres_wide.traj: line 2: expected 7 numbers .* got 6 numbers"):
        read_scene(tmp_path, f"Training/{VIDEO}")
