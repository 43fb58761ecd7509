"""NAVI adapter and the benchmark's sample selection: a fixture collection of cameras orbiting a square plane
(z = 0 in the object frame) at 0.5 m, written as NAVI stores it (world-to-camera quaternions, translations in
mm, inverse-depth PNGs, downsampled files), with known camera centres and depth."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.depth_codecs import decode_depth, read_frame_depth
from muskie.data.formats import FormatError, read_dataset
from muskie.data.formats.navi import evaluation_clusters, evaluation_scenes, find_scenes, read_scene
from muskie.data.scene import Frame
from muskie.data.selection import (
    consecutive_window,
    load_views,
    object_box,
    rotation_clusters,
    scannet_window,
)
from muskie.geometry import unproject_depth

ORIGINAL = (96, 128)  # image_size [H, W] of the annotations
HEIGHT, WIDTH = 48, 64  # the downsampled files
FOCAL = 160.0  # px at ORIGINAL: 80 px at the downsampled size
DISTANCE_MM = 500.0
HALF_SIDE = 0.1  # the plane is the square |x|, |y| <= 0.1 m
ANGLES_DEG = (0, 7, 19, 33, 48, 60, 71, 80, 85)  # nine cameras orbiting about the object's y axis


def rotation_y(degrees):
    a = math.radians(degrees)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def centre(degrees):
    """The camera centre of the orbit, by hand: Ry(a) (0, 0, -0.5)."""
    a = math.radians(degrees)
    return np.array([-0.5 * math.sin(a), 0.0, -0.5 * math.cos(a)])


def plane_depth_mm(degrees):
    """z-depth (mm) of the plane z = 0 at every downsampled pixel, 0 off the square."""
    f = FOCAL * HEIGHT / ORIGINAL[0]
    v, u = np.meshgrid(np.arange(HEIGHT, dtype=np.float64), np.arange(WIDTH, dtype=np.float64), indexing="ij")
    rays = np.stack([(u - (WIDTH - 1) / 2) / f, (v - (HEIGHT - 1) / 2) / f, np.ones_like(u)], -1)
    world_rays = rays @ rotation_y(degrees).T
    c = centre(degrees)
    s = -c[2] / world_rays[..., 2]  # the ray's z in the camera is 1: s is the z-depth
    hit = c + s[..., None] * world_rays
    inside = (np.abs(hit[..., 0]) <= HALF_SIDE) & (np.abs(hit[..., 1]) <= HALF_SIDE)
    return np.where(inside, 1000 * s, 0.0)


def annotation(image_id, degrees):
    # world-to-camera rotation Ry(-a) as a quaternion (w, x, y, z); translation -R c = (0, 0, 500) mm
    half = math.radians(-degrees) / 2
    return {
        "filename": f"{image_id}.jpg",
        "image_size": list(ORIGINAL),
        "camera": {
            "q": [math.cos(half), 0.0, math.sin(half), 0.0],
            "t": [0.0, 0.0, DISTANCE_MM],
            "focal_length": FOCAL,
        },
    }


def make_collection(folder, angles):
    for sub in ("images", "depth"):
        (folder / sub).mkdir(parents=True)
    entries = []
    for index, degrees in enumerate(angles):
        image_id = f"{index:03d}"
        Image.new("RGB", ORIGINAL[::-1], (index * 20, 40, 40)).save(folder / "images" / f"{image_id}.jpg")
        Image.new("RGB", (WIDTH, HEIGHT), (index * 20, 40, 40)).save(folder / "images" / f"downsampled_{image_id}.jpg")
        depth = plane_depth_mm(degrees)
        stored = np.where(depth > 0, np.round(65535 * 10 / np.maximum(depth, 1e-9)), 0).astype(np.uint16)
        Image.fromarray(stored).save(folder / "depth" / f"downsampled_{image_id}.png")
        entries.append(annotation(image_id, degrees))
    (folder / "annotations.json").write_text(json.dumps(entries))


@pytest.fixture
def navi_root(tmp_path):
    make_collection(tmp_path / "toy" / "multiview_00_pixel", ANGLES_DEG)
    make_collection(tmp_path / "toy" / "wild_set", (0,))
    make_collection(tmp_path / "nowild" / "multiview_00_pixel", (0, 10))  # no wild set: not evaluated
    return tmp_path


def test_inverse_depth_png_decodes_to_millimetres(tmp_path):
    path = tmp_path / "d.png"
    Image.fromarray(np.array([[0, 1310, 65535]], np.uint16)).save(path)
    np.testing.assert_allclose(decode_depth(path, "png_navi_inverse"), [[0.0, 655350 / 1310, 10.0]], rtol=1e-6)


def test_cameras_face_the_object_from_where_the_annotations_put_them(navi_root):
    scene = read_scene(navi_root, "toy/multiview_00_pixel")
    assert scene.metric and len(scene) == len(ANGLES_DEG)
    for frame, degrees in zip(scene.frames, ANGLES_DEG, strict=True):
        assert frame.image_path.name.startswith("downsampled_") and (frame.width, frame.height) == (WIDTH, HEIGHT)
        np.testing.assert_allclose(frame.intrinsics, [[80, 0, 31.5], [0, 80, 23.5], [0, 0, 1]])
        np.testing.assert_allclose(frame.cam_to_world[:3, 3], centre(degrees), atol=1e-12)
        # the optical axis, 0.5 m out, reaches the object's origin
        np.testing.assert_allclose(frame.cam_to_world[:3, :3] @ [0, 0, 0.5] + frame.cam_to_world[:3, 3], 0, atol=1e-12)


def test_depth_lifts_onto_the_plane(navi_root):
    for frame, degrees in zip(read_scene(navi_root, "toy/multiview_00_pixel").frames, ANGLES_DEG, strict=True):
        depth = read_frame_depth(frame).double()
        valid = depth > 0
        np.testing.assert_array_equal(valid.numpy(), plane_depth_mm(degrees) > 0)
        points = unproject_depth(depth, torch.from_numpy(frame.intrinsics), torch.from_numpy(frame.cam_to_world))
        on_plane = points[valid]
        assert on_plane[:, 2].abs().max() < 5e-4  # 16-bit inverse depth at 0.5 m: about 0.2 mm steps
        assert on_plane[:, :2].abs().max() < HALF_SIDE + 0.01


def test_object_crop_keeps_the_geometry(navi_root):
    scene = read_scene(navi_root, "toy/multiview_00_pixel")
    sample = load_views(scene, [0, 3], (32, 32), object_crop=True)
    assert sample["images"].shape == (2, 3, 32, 32) and sample["valid"].float().mean() > 0.8
    points = unproject_depth(sample["depth"].double(), sample["intrinsics"].double(), sample["cam_to_world"].double())
    front, oblique = points[0][sample["valid"][0]], points[1][sample["valid"][1]]
    # view 0 faces the plane: the crop's intrinsics put the square where it is (a wrong principal point would
    # shift it by centimetres); nearest-neighbour resizing of depth moves a ray by up to half a source pixel
    # (3 mm at 0.5 m), which the oblique view turns into a small error off the plane
    assert front[:, 2].abs().max() < 5e-4
    assert (front[:, :2].abs().amax(dim=0) - HALF_SIDE).abs().max() < 4e-3
    assert oblique[:, 2].abs().max() < 3e-3


def test_object_box_is_the_squared_bounding_box_in_the_centred_square():
    valid = torch.zeros(40, 60, dtype=torch.bool)
    valid[10:20, 25:31] = True  # 10 rows x 6 columns, inside the centred square (columns 10..49)
    assert tuple(object_box(valid)) == (10, 23, 10, 10)
    valid = torch.zeros(40, 60, dtype=torch.bool)
    valid[0:4, 10:30] = True  # 4 x 20 at the top: the 20 x 20 box is moved back inside
    assert tuple(object_box(valid)) == (0, 10, 20, 20)
    assert tuple(object_box(torch.zeros(40, 60, dtype=torch.bool))) == (0, 10, 40, 40)


def test_rotation_clusters_take_the_nearest_rotations_anchor_first():
    rotations = np.stack([rotation_y(a) for a in (0, 10, 50, 20, 5)])
    clusters = rotation_clusters(rotations, 3)
    assert clusters[0] == [0, 4, 1] and clusters[2] == [2, 3, 1] and len(clusters) == 5
    assert rotation_clusters(rotations, 6) == []


def test_evaluation_split_and_clusters_are_the_authors(navi_root):
    ids = [f"a/multiview_{i:02d}" for i in range(11)] + [
        "a/wild_set",
        "b/multiview_00",
        "b/multiview_01",
        "c/multiview_00",
        "c/wild_set",
    ]
    assert evaluation_scenes(ids) == ["a/multiview_09", "a/multiview_10", "c/multiview_00"]
    assert "nowild/multiview_00_pixel" in find_scenes(navi_root)
    clusters = evaluation_clusters(navi_root, num_views=8, stride=4)  # anchors 0, 4 and 8 of toy's 9 views
    assert [scene.name for scene, _ in clusters] == ["toy/multiview_00_pixel"] * 3
    assert clusters[1][1] == [4, 5, 3, 6, 2, 7, 8, 1]  # 48 degrees: then 60, 33, 71, 19, 80, 85, 7
    assert clusters[0][1] == list(range(8)) and len(evaluation_clusters(navi_root)) == 1


def test_navi_is_a_registered_format_with_clear_errors(navi_root, tmp_path):
    scenes = read_dataset(navi_root, "navi")
    assert [s.name for s in scenes] == ["nowild/multiview_00_pixel", "toy/multiview_00_pixel", "toy/wild_set"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FormatError, match="not a NAVI root"):
        read_dataset(empty, "navi")
    (navi_root / "toy" / "wild_set" / "annotations.json").write_text(json.dumps([{"no": "filename"}]))
    with pytest.raises(FormatError, match="filename"):
        read_scene(navi_root, "toy/wild_set")
    entry = annotation("000", 0)
    entry["camera"]["q"] = [0, 0, 0, 0]
    (navi_root / "toy" / "wild_set" / "annotations.json").write_text(json.dumps([entry]))
    with pytest.raises(FormatError, match="zero quaternion"):
        read_scene(navi_root, "toy/wild_set")


def test_scannet_window_is_the_first_run_with_small_gaps(tmp_path):
    assert consecutive_window([0, 10, 60, 70, 80, 90, 100], 3, 35) == [2, 3, 4]
    assert consecutive_window([0, 40, 80], 2, 35) is None
    with pytest.raises(ValueError, match="increasing"):
        consecutive_window([3, 1], 2, 35)
    numbers = [120, 0, 20, 40, 100, 60, 80, 200]  # frames listed out of order; 80 -> 100 -> 120 are 20 apart
    frames = [Frame(image_path=tmp_path / f"{n}.jpg", width=4, height=3) for n in numbers]
    window = scannet_window(frames, num_views=7, max_gap=35)
    assert [numbers[i] for i in window] == [0, 20, 40, 60, 80, 100, 120]
    assert scannet_window(frames, num_views=8, max_gap=35) is None
