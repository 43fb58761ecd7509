"""DUSt3R-preprocessed CO3D / WildRGB-D adapter: fixtures written as ``preprocess_co3d.py`` and
``preprocess_wildrgbd.py`` write them (per-frame ``.npz`` with ``camera_intrinsics``, camera-to-world
``camera_pose`` and, for CO3D, ``maximum_depth`` scaling the uint16 depth PNG)."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.dataset_paths import OutsideRootError
from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FormatError, get_format
from muskie.data.formats.dust3r import find_scenes, read_scene
from muskie.data.formats.reading import read_npz_arrays
from muskie.geometry import look_at, project_points, unproject

WIDTH, HEIGHT = 36, 28
K = np.array([[40.0, 0.0, 17.5], [0.0, 42.0, 13.0], [0.0, 0.0, 1.0]])
CO3D_SCENE = "hydrant/106_12648_23157"
WILD_SCENE = "box/scenes/scene_017"
EYES = [(0.0, 0.0, -2.0), (0.6, 0.1, -1.9)]


def poses():
    return [
        look_at(
            torch.tensor(eye, dtype=torch.float64),
            torch.zeros(3, dtype=torch.float64),
            torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64),
        ).numpy()
        for eye in EYES
    ]


def make_co3d(root, stored=40000, maximum_depth=3.0):
    """A preprocessed CO3D root: two frames, uint16 depth ``stored`` everywhere, i.e. ``stored / 65535 *
    maximum_depth`` world units."""
    scene = root / CO3D_SCENE
    for folder in ("images", "depths", "masks"):
        (scene / folder).mkdir(parents=True)
    for number, pose in zip((3, 7), poses(), strict=True):
        name = f"frame{number:06d}"
        Image.new("RGB", (WIDTH, HEIGHT), (number * 20, 0, 0)).save(scene / "images" / f"{name}.jpg")
        np.savez(
            scene / "images" / f"{name}.npz",
            camera_intrinsics=K.astype(np.float32),
            camera_pose=pose,
            maximum_depth=np.float32(maximum_depth),
        )
        depth = np.full((HEIGHT, WIDTH), stored, np.uint16)
        Image.fromarray(depth).save(scene / "depths" / f"{name}.jpg.geometric.png")
        Image.new("L", (WIDTH, HEIGHT), 255).save(scene / "masks" / f"{name}.png")
    (root / "selected_seqs_train.json").write_text(json.dumps({"hydrant": {"106_12648_23157": [3, 7]}, "empty": {}}))
    return scene


def make_wildrgbd(root):
    scene = root / WILD_SCENE
    for folder in ("rgb", "depth", "masks", "metadata"):
        (scene / folder).mkdir(parents=True)
    for index, pose in enumerate(poses()):
        Image.new("RGB", (WIDTH, HEIGHT)).save(scene / "rgb" / f"{index:05d}.jpg")
        np.savez(scene / "metadata" / f"{index:05d}.npz", camera_intrinsics=K, camera_pose=pose)
        Image.fromarray(np.full((HEIGHT, WIDTH), 1250, np.uint16)).save(scene / "depth" / f"{index:05d}.png")
    (root / "selected_seqs_test.json").write_text(json.dumps({"box": {"scenes/scene_017": [0, 1]}}))
    return scene


def test_co3d_cameras_and_depth_scaled_by_maximum_depth(tmp_path):
    make_co3d(tmp_path)
    scene = read_scene(tmp_path, CO3D_SCENE)
    assert scene.name == CO3D_SCENE and not scene.metric and scene.has_cameras and scene.has_depth
    assert [frame.image_path.name for frame in scene.frames] == ["frame000003.jpg", "frame000007.jpg"]
    for frame, pose in zip(scene.frames, poses(), strict=True):
        np.testing.assert_array_equal(frame.intrinsics, K)
        np.testing.assert_array_equal(frame.cam_to_world, pose)
        assert frame.mask_path.name == frame.image_path.stem + ".png"
        depth = read_frame_depth(frame)
        assert depth[5, 5].item() == pytest.approx(40000 / 65535 * 3.0, rel=1e-6)


def test_a_point_seen_in_two_frames_lands_where_the_poses_say(tmp_path):
    make_wildrgbd(tmp_path)
    scene = read_scene(tmp_path, WILD_SCENE)
    assert scene.metric and len(scene) == 2
    first, second = scene.frames
    pixel = np.array([9.0, 21.0])
    depth = read_frame_depth(first).double()[21, 9]
    assert depth.item() == pytest.approx(1.25)
    # the same point from the poses as the preprocessing wrote them (camera-to-world)
    world = poses()[0][:3, :3] @ (1.25 * np.linalg.inv(K) @ np.array([*pixel, 1.0])) + poses()[0][:3, 3]
    in_second = np.linalg.inv(poses()[1]) @ np.array([*world, 1.0])
    lifted = unproject(
        torch.from_numpy(pixel)[None],
        depth[None],
        torch.from_numpy(first.intrinsics),
        torch.from_numpy(first.cam_to_world),
    )
    uv, _ = project_points(lifted, torch.from_numpy(second.intrinsics), torch.from_numpy(second.cam_to_world))
    np.testing.assert_allclose(uv.numpy()[0], (K @ in_second[:3])[:2] / in_second[2], atol=1e-9)


def test_images_only_opens_no_npz_and_no_depth(tmp_path):
    scene_dir = make_co3d(tmp_path)
    for path in [*scene_dir.glob("images/*.npz"), *scene_dir.glob("depths/*")]:
        path.unlink()
    scene = read_scene(tmp_path, CO3D_SCENE, cameras=False, depth=False)
    assert len(scene) == 2 and not scene.has_cameras and not scene.has_depth
    assert (scene.frames[0].width, scene.frames[0].height) == (WIDTH, HEIGHT)
    with pytest.raises(FormatError, match="frame000003.npz: no such file"):
        read_scene(tmp_path, CO3D_SCENE, cameras=False, depth=True)  # CO3D depth needs maximum_depth


def test_a_frame_without_positive_maximum_depth_has_no_depth(tmp_path):
    make_co3d(tmp_path, maximum_depth=0.0)
    scene = read_scene(tmp_path, CO3D_SCENE)
    assert all(frame.depth_path is None for frame in scene.frames)


def test_unusable_poses_are_skipped_with_a_count(tmp_path):
    scene_dir = make_wildrgbd(tmp_path)
    np.savez(scene_dir / "metadata" / "00001.npz", camera_intrinsics=K, camera_pose=np.full((4, 4), np.nan))
    with pytest.warns(UserWarning, match="skipped 1 frame"):
        scene = read_scene(tmp_path, WILD_SCENE)
    assert [frame.image_path.name for frame in scene.frames] == ["00000.jpg"]


def test_an_npz_header_claiming_more_than_the_file_holds_is_refused_before_reading(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (200000, 200000)})
    path = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("camera_pose.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(
        FormatError,
        match=r"'camera_pose' must be a numeric array of shape \(4, 4\), got float64 "
        r"of shape \(200000, 200000\)",
    ):
        read_npz_arrays(path, {"camera_pose": (4, 4)})
    np.savez(tmp_path / "partial.npz", camera_pose=np.eye(4))
    with pytest.raises(FormatError, match="partial.npz: no array 'camera_intrinsics'"):
        read_npz_arrays(tmp_path / "partial.npz", {"camera_intrinsics": (3, 3)})
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(FormatError, match="text.npz: not a readable .npz archive"):
        read_npz_arrays(tmp_path / "text.npz", {"camera_pose": (4, 4)})


def test_scene_ids_from_the_split_lists_stay_inside_the_root(tmp_path):
    root = tmp_path / "processed"
    make_co3d(root)
    (root / "selected_seqs_train.json").write_text(json.dumps({"..": {"elsewhere": [1]}}))
    assert find_scenes(root) == ["../elsewhere"]
    with pytest.raises(OutsideRootError, match="scene id .*path '../elsewhere' leads outside"):
        read_scene(root, "../elsewhere")
    (tmp_path / "elsewhere" / "images").mkdir(parents=True)
    Image.new("RGB", (WIDTH, HEIGHT)).save(tmp_path / "elsewhere" / "images" / "frame000001.jpg")
    assert len(read_scene(root, "../elsewhere", cameras=False, depth=False, allow_outside=True)) == 1


def test_finding_scenes_of_both_layouts(tmp_path):
    make_co3d(tmp_path)
    make_wildrgbd(tmp_path)
    assert find_scenes(tmp_path) == [WILD_SCENE, CO3D_SCENE]
    assert get_format("dust3r").object_centric
    (tmp_path / "selected_seqs_test.json").write_text('{"box": [')
    with pytest.raises(FormatError, match="selected_seqs_test.json: malformed JSON"):
        find_scenes(tmp_path)
    with pytest.raises(
        FormatError,
        match="not a DUSt3R-preprocessed root: expected selected_seqs_train.json or selected_seqs_test.json",
    ):
        find_scenes(tmp_path / "hydrant")
    (tmp_path / "odd").mkdir()
    with pytest.raises(FormatError, match="odd: not a DUSt3R-preprocessed scene: expected images/"):
        read_scene(tmp_path, "odd")
