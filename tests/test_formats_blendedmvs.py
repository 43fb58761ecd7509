"""BlendedMVS adapter: a fixture whose ``_cam.txt`` files hold world-to-camera extrinsics and whose PFM depth
is rendered from the known plane z = 0, so that every view's pixels lift onto the plane and reproject into the
other views at the depth those views store."""

import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FormatError, read_dataset
from muskie.data.formats.blendedmvs import find_scenes, read_scene
from muskie.geometry import gather_pixels, look_at, nearest_pixel, project_points, unproject_depth

WIDTH, HEIGHT = 32, 24
K = np.array([[28.0, 0.0, 15.0], [0.0, 30.0, 12.5], [0.0, 0.0, 1.0]])
SCENE = "5a3ca9cb270f0e3f14d0eddb"
EYES = [(0.2, -0.3, 3.0), (-0.5, 0.0, 2.8), (0.4, 0.5, 3.2)]


def cam_to_world(eye):
    return look_at(
        torch.tensor(eye, dtype=torch.float64),
        torch.zeros(3, dtype=torch.float64),
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
    ).numpy()


def plane_depth(pose):
    """z-depth of the plane z = 0 at every pixel centre of a camera (ray-plane intersection)."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T @ pose[:3, :3].T
    return -pose[2, 3] / rays[..., 2]


def write_pfm(path, depth):
    with open(path, "wb") as handle:
        handle.write(f"Pf\n{WIDTH} {HEIGHT}\n-1.0\n".encode())
        handle.write(np.ascontiguousarray(depth[::-1], dtype="<f4").tobytes())  # rows bottom-up


def write_cam(path, world_to_cam):
    rows = "\n".join(" ".join(f"{v:.17g}" for v in row) for row in world_to_cam)
    intrinsic = "\n".join(" ".join(f"{v:.17g}" for v in row) for row in K)
    path.write_text(f"extrinsic\n{rows}\n\nintrinsic\n{intrinsic}\n\n2.5 0.01 192 4.4\n")


def make_blendedmvs(root):
    scene = root / SCENE
    for folder in ("blended_images", "cams", "rendered_depth_maps"):
        (scene / folder).mkdir(parents=True)
    for view, eye in enumerate(EYES):
        pose = cam_to_world(eye)
        name = f"{view:08d}"
        Image.new("RGB", (WIDTH, HEIGHT), (view * 60, 0, 0)).save(scene / "blended_images" / f"{name}.jpg")
        Image.new("RGB", (WIDTH, HEIGHT)).save(scene / "blended_images" / f"{name}_masked.jpg")
        write_cam(scene / "cams" / f"{name}_cam.txt", np.linalg.inv(pose))
        write_pfm(scene / "rendered_depth_maps" / f"{name}.pfm", plane_depth(pose))
    (scene / "cams" / "pair.txt").write_text("3\n0\n2 2 310.5 1 120.0\n1\n2 0 200.0 2 50.0\n2\n1 0 310.5\n")
    return scene


def camera(frame):
    return torch.from_numpy(frame.intrinsics), torch.from_numpy(frame.cam_to_world)


def test_pixels_lift_onto_the_plane_and_reproject_at_the_other_views_depth(tmp_path):
    make_blendedmvs(tmp_path)
    scene = read_scene(tmp_path, SCENE)
    assert not scene.metric and scene.has_cameras and scene.has_depth and len(scene) == 3
    depths = [read_frame_depth(frame).double() for frame in scene.frames]
    for frame, eye in zip(scene.frames, EYES, strict=True):
        np.testing.assert_allclose(frame.cam_to_world[:3, 3], eye, atol=1e-9)
    for i, j in [(0, 1), (1, 2), (2, 0)]:
        points = unproject_depth(depths[i], *camera(scene.frames[i])).reshape(-1, 3)
        assert points[:, 2].abs().max() < 1e-5  # on the plane z = 0
        uv, z = project_points(points, *camera(scene.frames[j]))
        index, inside = nearest_pixel(uv, HEIGHT, WIDTH)
        stored = gather_pixels(depths[j], index)
        relative = ((stored - z).abs() / z)[inside]
        assert inside.sum() > 100 and relative.median() < 0.01


def test_images_neighbours_and_masked_images(tmp_path):
    make_blendedmvs(tmp_path)
    scene = read_scene(tmp_path, SCENE)
    assert [frame.image_path.name for frame in scene.frames] == ["00000000.jpg", "00000001.jpg", "00000002.jpg"]
    assert scene.neighbours == {0: [2, 1], 1: [0, 2], 2: [0]}


def test_a_frame_with_an_unusable_pose_leaves_the_frames_and_the_neighbours(tmp_path):
    scene_dir = make_blendedmvs(tmp_path)
    broken = np.linalg.inv(cam_to_world(EYES[1]))
    broken[:3, :3] *= 3.0
    write_cam(scene_dir / "cams" / "00000001_cam.txt", broken)
    with pytest.warns(UserWarning, match="skipped 1 frame"):
        scene = read_scene(tmp_path, SCENE)
    assert [frame.image_path.name for frame in scene.frames] == ["00000000.jpg", "00000002.jpg"]
    assert scene.neighbours == {0: [1], 1: [0]}


def test_images_only_opens_no_camera_or_depth_file(tmp_path):
    scene_dir = make_blendedmvs(tmp_path)
    for path in [*(scene_dir / "cams").glob("*_cam.txt"), *(scene_dir / "rendered_depth_maps").iterdir()]:
        path.unlink()
    scene = read_scene(tmp_path, SCENE, cameras=False, depth=False)
    assert len(scene) == 3 and not scene.has_cameras and not scene.has_depth
    assert scene.neighbours[0] == [2, 1]
    with pytest.raises(FormatError, match="00000000_cam.txt: no such file"):
        read_scene(tmp_path, SCENE)


def test_malformed_cam_and_pair_files_are_named(tmp_path):
    scene_dir = make_blendedmvs(tmp_path)
    (scene_dir / "cams" / "pair.txt").write_text("3\n0\n5 2 1.0\n")
    with pytest.raises(FormatError, match="pair.txt: ends before the views its counts announce"):
        read_scene(tmp_path, SCENE, cameras=False)
    (scene_dir / "cams" / "00000002_cam.txt").write_text("intrinsic\n1 0 0\n")
    with pytest.raises(FormatError, match="00000002_cam.txt: expected 'extrinsic' and 16 numbers"):
        read_scene(tmp_path, SCENE)


def test_roots_that_are_not_blendedmvs(tmp_path):
    make_blendedmvs(tmp_path)
    assert find_scenes(tmp_path) == [SCENE]
    assert [scene.name for scene in read_dataset(tmp_path, "blendedmvs")] == [SCENE]
    with pytest.raises(FormatError, match="not a BlendedMVS root: expected scene folders holding blended_images/"):
        find_scenes(tmp_path / SCENE)


def test_a_root_of_linked_scene_folders_reads_and_odd_scene_ids_are_refused(tmp_path):
    make_blendedmvs(tmp_path / "disk2")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / SCENE).symlink_to(tmp_path / "disk2" / SCENE)  # no dataset file named this path
    assert len(read_scene(tmp_path / "root", SCENE)) == 3
    with pytest.raises(FormatError, match="scene id must look like '<scene>', got '../disk2'"):
        read_scene(tmp_path / "root", "../disk2")
