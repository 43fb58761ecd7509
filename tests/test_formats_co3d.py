"""CO3Dv2 adapter: a fixture in the native layout whose PyTorch3D cameras are built from known OpenCV cameras.

Checked with known answers: the converted camera puts a world point on the pixel a PyTorch3D projection
(written here from its documented conventions) gives; float16 depth bits decode exactly; depth, cameras and
the ``[H, W]`` size order together lift every pixel onto the plane the depth was rendered from."""

import gzip
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.dataset_paths import OutsideRootError
from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FormatError, get_format, read_dataset
from muskie.data.formats.co3d import find_scenes, read_scene
from muskie.data.views import MultiViewDataset, ViewRequest
from muskie.geometry import look_at, project_points, unproject_depth

HEIGHT, WIDTH = 24, 40  # not square: isotropic and per-axis NDC differ, and [H, W] order matters
CATEGORY, SEQUENCE = "teddybear", "34_1403_4393"
SCENE = f"{CATEGORY}/{SEQUENCE}"
FLIP = np.diag([-1.0, -1.0, 1.0])


def opencv_cameras():
    """Known OpenCV cameras: ``K`` (off-centre principal point, fx != fy) and camera-to-world poses looking at
    the plane z = 0 from above."""
    K = np.array([[30.0, 0.0, 21.0], [0.0, 28.0, 10.5], [0.0, 0.0, 1.0]])
    eyes = [(0.3, -0.2, 2.0), (-0.4, 0.1, 2.2), (0.1, 0.5, 1.8)]
    poses = [
        look_at(
            torch.tensor(eye, dtype=torch.float64),
            torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64),
            torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
        ).numpy()
        for eye in eyes
    ]
    return K, poses


def pytorch3d_viewpoint(K, cam_to_world, intrinsics_format):
    """The CO3D viewpoint of an OpenCV camera, derived from PyTorch3D's conventions: X_view = X_world R + T
    with view axes (-x, -y, z) of OpenCV's, NDC +-1 at the image edges (per axis or on the shorter side)."""
    world_to_cam = np.linalg.inv(cam_to_world)
    rotation = world_to_cam[:3, :3].T @ FLIP  # R^T = F R_w2c
    translation = FLIP @ world_to_cam[:3, 3]
    if intrinsics_format == "ndc_isotropic":
        scale = np.full(2, min(HEIGHT, WIDTH) / 2)
    else:
        scale = np.array([WIDTH / 2, HEIGHT / 2])
    focal = np.array([K[0, 0], K[1, 1]]) / scale
    # the principal point's distance from the left / top edge, in NDC from the image centre
    centre = (np.array([WIDTH / 2, HEIGHT / 2]) - (K[:2, 2] + 0.5)) / scale
    return {
        "R": rotation.tolist(),
        "T": translation.tolist(),
        "focal_length": focal.tolist(),
        "principal_point": centre.tolist(),
        "intrinsics_format": intrinsics_format,
    }


def plane_depth(K, cam_to_world):
    """z-depth of the plane z = 0 at every pixel centre (ray-plane intersection)."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T  # camera frame, z = 1
    world_rays = rays @ cam_to_world[:3, :3].T
    return -cam_to_world[2, 3] / world_rays[..., 2]


def write_float16_png(path, depth):
    Image.fromarray(depth.astype(np.float16).view(np.uint16)).save(path)


def write_jgz(path, content):
    with gzip.open(path, "wb") as handle:
        handle.write(json.dumps(content).encode())


def make_co3d(root, intrinsics_format="ndc_norm_image_bounds", edit=None):
    """A CO3Dv2 root with one sequence of three frames; ``edit(entries)`` may change the annotations."""
    K, poses = opencv_cameras()
    sequence_dir = root / CATEGORY / SEQUENCE
    for folder in ("images", "depths", "depth_masks", "masks"):
        (sequence_dir / folder).mkdir(parents=True)
    entries = []
    for number, pose in enumerate(poses, start=1):
        name = f"frame{number:06d}"
        Image.new("RGB", (WIDTH, HEIGHT), (number * 40, 90, 30)).save(sequence_dir / "images" / f"{name}.jpg")
        write_float16_png(sequence_dir / "depths" / f"{name}.jpg.geometric.png", plane_depth(K, pose))
        Image.new("L", (WIDTH, HEIGHT), 255).save(sequence_dir / "depth_masks" / f"{name}.png")
        Image.new("L", (WIDTH, HEIGHT), 200).save(sequence_dir / "masks" / f"{name}.png")
        prefix = f"{CATEGORY}/{SEQUENCE}"
        entries.append(
            {
                "sequence_name": SEQUENCE,
                "frame_number": number,
                "frame_timestamp": number / 30,
                "image": {"path": f"{prefix}/images/{name}.jpg", "size": [HEIGHT, WIDTH]},
                "depth": {
                    "path": f"{prefix}/depths/{name}.jpg.geometric.png",
                    "scale_adjustment": 1.0,
                    "mask_path": f"{prefix}/depth_masks/{name}.png",
                },
                "mask": {"path": f"{prefix}/masks/{name}.png", "mass": 100.0},
                "viewpoint": pytorch3d_viewpoint(K, pose, intrinsics_format),
                "meta": {"frame_type": "test_known", "frame_splits": ["train_known"]},
            }
        )
    entries.reverse()  # the annotations are not in frame order: the adapter sorts
    if edit is not None:
        edit(entries)
    write_jgz(root / CATEGORY / "frame_annotations.jgz", entries)
    write_jgz(
        root / CATEGORY / "sequence_annotations.jgz",
        [{"sequence_name": SEQUENCE, "category": CATEGORY, "viewpoint_quality_score": 1.0}],
    )
    return K, poses


@pytest.mark.parametrize("intrinsics_format", ["ndc_norm_image_bounds", "ndc_isotropic"])
def test_cameras_are_the_opencv_cameras_the_fixture_was_built_from(tmp_path, intrinsics_format):
    K, poses = make_co3d(tmp_path, intrinsics_format)
    scene = read_scene(tmp_path, SCENE)
    assert scene.name == SCENE and not scene.metric and scene.has_cameras and len(scene) == 3
    assert [frame.image_path.name for frame in scene.frames] == [f"frame{n:06d}.jpg" for n in (1, 2, 3)]
    point = np.array([0.05, -0.1, 0.02])
    for frame, pose, entry_viewpoint in zip(
        scene.frames, poses, [pytorch3d_viewpoint(K, p, intrinsics_format) for p in poses], strict=True
    ):
        assert (frame.width, frame.height) == (WIDTH, HEIGHT)
        np.testing.assert_allclose(frame.intrinsics, K, atol=1e-9)
        np.testing.assert_allclose(frame.cam_to_world, pose, atol=1e-9)
        # the PyTorch3D projection of the annotation's own numbers, from the documented formulas
        view = point @ np.array(entry_viewpoint["R"]) + np.array(entry_viewpoint["T"])
        ndc = np.array(entry_viewpoint["focal_length"]) * view[:2] / view[2] + entry_viewpoint["principal_point"]
        if intrinsics_format == "ndc_isotropic":
            edge, per_ndc = np.array([WIDTH, HEIGHT]) / min(WIDTH, HEIGHT), min(WIDTH, HEIGHT) / 2
        else:
            edge, per_ndc = np.ones(2), np.array([WIDTH, HEIGHT]) / 2
        expected = (edge - ndc) * per_ndc - 0.5
        uv, z = project_points(
            torch.from_numpy(point)[None], torch.from_numpy(frame.intrinsics), torch.from_numpy(frame.cam_to_world)
        )
        np.testing.assert_allclose(uv.numpy()[0], expected, atol=1e-9)
        assert z.item() == pytest.approx(view[2])


def test_float16_depth_is_decoded_exactly_and_scaled(tmp_path):
    values = np.array([[0.0, 1.5], [2.25, 1000.0]], dtype=np.float16)

    def double_scale(entries):
        entries[-1]["depth"]["scale_adjustment"] = 2.0  # frame 1 (the list is reversed)

    make_co3d(tmp_path, edit=double_scale)
    depth_file = tmp_path / SCENE / "depths" / "frame000001.jpg.geometric.png"
    write_float16_png(depth_file, values)
    frame = read_scene(tmp_path, SCENE).frames[0]
    assert frame.depth_encoding == "png_float16" and frame.depth_path == depth_file
    np.testing.assert_array_equal(read_frame_depth(frame).numpy(), 2.0 * values.astype(np.float32))


def test_depth_and_cameras_lift_every_pixel_onto_the_plane(tmp_path):
    make_co3d(tmp_path, "ndc_isotropic")
    for frame in read_scene(tmp_path, SCENE).frames:
        points = unproject_depth(
            read_frame_depth(frame).double(), torch.from_numpy(frame.intrinsics), torch.from_numpy(frame.cam_to_world)
        )
        # float16 depth: about 1e-3 relative error on depths near 2
        assert points[..., 2].abs().max() < 5e-3


def test_images_only_reads_no_annotation_and_no_depth(tmp_path):
    make_co3d(tmp_path)
    (tmp_path / CATEGORY / "frame_annotations.jgz").write_bytes(b"not gzip: opening this would fail")
    for path in (tmp_path / SCENE / "depths").iterdir():
        path.unlink()
    scene = read_scene(tmp_path, SCENE, cameras=False, depth=False)
    assert len(scene) == 3 and not scene.has_cameras and not scene.has_depth
    frame = scene.frames[0]
    assert (frame.width, frame.height) == (WIDTH, HEIGHT)
    assert frame.mask_path == tmp_path / SCENE / "masks" / "frame000001.png"
    assert get_format("co3d").object_centric


def test_cameras_without_depth_name_no_depth_file(tmp_path):
    make_co3d(tmp_path)
    scene = read_scene(tmp_path, SCENE, depth=False)
    assert scene.has_cameras and not scene.has_depth


def test_unusable_poses_are_skipped_with_a_count(tmp_path):
    def corrupt(entries):
        entries[0]["viewpoint"]["R"][0][0] = float("nan")  # frame 3
        entries[1]["viewpoint"]["R"] = (2 * np.array(entries[1]["viewpoint"]["R"])).tolist()  # frame 2

    make_co3d(tmp_path, edit=corrupt)
    with pytest.warns(UserWarning, match="skipped 2 frame"):
        scene = read_scene(tmp_path, SCENE)
    assert [frame.image_path.name for frame in scene.frames] == ["frame000001.jpg"]


def test_paths_leading_outside_the_root_are_refused(tmp_path):
    root = tmp_path / "co3d"
    root.mkdir()
    outside = tmp_path / "secret.jpg"
    Image.new("RGB", (WIDTH, HEIGHT)).save(outside)

    def escape(entries):
        entries[0]["image"]["path"] = "../secret.jpg"

    make_co3d(root, edit=escape)
    with pytest.raises(
        OutsideRootError,
        match=r"frame_annotations.jgz: entry 0: image.path: path '../secret.jpg' "
        "leads outside",
    ):
        read_scene(root, SCENE)
    assert read_scene(root, SCENE, allow_outside=True).frames[-1].image_path.resolve() == outside.resolve()


def test_a_symlink_leading_outside_the_root_is_refused(tmp_path):
    root = tmp_path / "co3d"
    root.mkdir()

    def link(entries):
        entries[1]["mask"]["path"] = f"{SCENE}/masks/up/outside.png"

    make_co3d(root, edit=link)
    os.symlink(tmp_path, root / SCENE / "masks" / "up")  # the named file exists, through a link out of root
    Image.new("L", (WIDTH, HEIGHT)).save(tmp_path / "outside.png")
    with pytest.raises(OutsideRootError, match="entry 1: mask.path: path .*masks/up/outside.png' leads outside"):
        read_scene(root, SCENE)


def test_malformed_annotations_name_the_file(tmp_path):
    make_co3d(tmp_path)
    annotations = tmp_path / CATEGORY / "frame_annotations.jgz"
    with gzip.open(annotations, "wb") as handle:
        handle.write(b'[{"sequence_name": ')
    with pytest.raises(FormatError, match=f"{annotations}: malformed JSON at line 1"):
        read_scene(tmp_path, SCENE)
    write_jgz(annotations, [{"sequence_name": SEQUENCE, "frame_number": 1, "image": {"path": "x", "size": [0, 5]}}])
    with pytest.raises(FormatError, match=r"entry 0: 'image.size' must be a positive integer, got 0"):
        read_scene(tmp_path, SCENE)


def test_unknown_intrinsics_format_is_refused(tmp_path):
    def screen(entries):
        entries[0]["viewpoint"]["intrinsics_format"] = "screen"

    make_co3d(tmp_path, edit=screen)
    with pytest.raises(FormatError, match="entry 0: unknown 'intrinsics_format' 'screen'"):
        read_scene(tmp_path, SCENE)


def test_an_annotation_that_inflates_like_a_bomb_is_refused(tmp_path):
    make_co3d(tmp_path)
    annotations = tmp_path / CATEGORY / "frame_annotations.jgz"
    with gzip.open(annotations, "wb") as handle:
        handle.write(b" " * (8 << 20))  # 8 MiB of spaces deflate to a few kB
    with pytest.raises(FormatError, match="inflates to more than 100 times its size"):
        read_scene(tmp_path, SCENE)


def test_finding_scenes_and_the_registry(tmp_path):
    make_co3d(tmp_path)
    (tmp_path / CATEGORY / "not_a_sequence").mkdir()
    assert find_scenes(tmp_path) == [SCENE]
    [scene] = read_dataset(tmp_path, "co3d", cameras=False, depth=False)
    assert scene.name == SCENE and len(scene) == 3
    with pytest.raises(FormatError, match="not a CO3Dv2 root: expected category folders holding frame_annotations.jgz"):
        find_scenes(tmp_path / CATEGORY)
    with pytest.raises(FormatError, match="scene id must look like '<category>/<sequence>', got 'teddybear'"):
        read_scene(tmp_path, CATEGORY)
    with pytest.raises(FormatError, match="no frame of sequence 'missing'"):
        (tmp_path / CATEGORY / "missing" / "images").mkdir(parents=True)
        read_scene(tmp_path, f"{CATEGORY}/missing")


def test_a_training_sample_keeps_the_plane(tmp_path):
    # the views dataset crops and resizes with K: its sample must still lift onto the plane z = 0
    make_co3d(tmp_path, "ndc_isotropic")
    dataset = MultiViewDataset([read_scene(tmp_path, SCENE)], crop_scale=(1.0, 1.0), skip_bad=False)
    sample = dataset[ViewRequest(index=0, num_views=2, height=HEIGHT, width=WIDTH, seed=0)]
    points = unproject_depth(sample["depth"].double(), sample["intrinsics"].double(), sample["cam_to_world"].double())
    assert sample["valid"].all() and points[..., 2].abs().max() < 5e-3
