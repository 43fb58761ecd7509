"""ScanNet++ adapter: fixtures in the release layout (DSLR fisheye photos + COLMAP, iPhone frames + COLMAP +
low-resolution LiDAR depth), conventions and the loader's handling of both checked with known answers."""

import numpy as np
import pytest
from PIL import Image

from muskie.data.dataset_paths import OutsideRootError
from muskie.data.datasets import DatasetSourceConfig, open_source
from muskie.data.formats import FormatError, get_format, read_dataset
from muskie.data.formats.scannetpp import read_scene, scannetpp_format
from muskie.data.sources.colmap import ColmapCamera, ColmapImage, write_colmap_model
from muskie.data.views import MultiViewDataset, ViewRequest

SCENE = "0a5c013435"
FISHEYE = [60.0, 61.0, 32.0, 24.0, 0.05, -0.01, 0.002, -0.0003]  # fx fy cx cy k1..k4, COLMAP pixels


def write_images(folder, names, size=(64, 48)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((size[1], size[0], 3), 100, np.uint8)).save(folder / name)


def make_dslr(root, names=("DSC00002.JPG", "DSC00001.JPG"), tvec=(0.0, 0.0, 2.0), params=FISHEYE):
    capture = root / "data" / SCENE / "dslr"
    write_images(capture / "resized_images", names)
    cameras = {1: ColmapCamera(1, "OPENCV_FISHEYE", 64, 48, np.array(params))}
    images = {
        i + 1: ColmapImage(i + 1, np.array([1.0, 0, 0, 0]), np.array(tvec), 1, name) for i, name in enumerate(names)
    }
    write_colmap_model(capture / "colmap", cameras, images)
    return capture


def make_iphone(root, frames=(0, 1), extracted=(0, 1)):
    """iPhone capture: 64x48 frames, 16x12 depth in mm (depth pixel (i, j) = 1000 + 10 i + j), a PINHOLE model
    naming the frames ``video/frame_%06d.jpg``."""
    capture = root / "data" / SCENE / "iphone"
    write_images(capture / "rgb", [f"frame_{i:06d}.jpg" for i in extracted])
    (capture / "depth").mkdir(parents=True)
    rows, cols = np.mgrid[0:12, 0:16]
    for i in extracted:
        Image.fromarray((1000 + 10 * rows + cols).astype(np.uint16)).save(capture / "depth" / f"frame_{i:06d}.png")
    cameras = {1: ColmapCamera(1, "PINHOLE", 64, 48, np.array([50.0, 50.0, 32.0, 24.0]))}
    images = {
        i + 1: ColmapImage(i + 1, np.array([1.0, 0, 0, 0]), np.zeros(3), 1, f"video/frame_{i:06d}.jpg") for i in frames
    }
    write_colmap_model(capture / "colmap", cameras, images)
    return capture


def test_dslr_fisheye_camera_reaches_the_frame_and_poses_are_inverted(tmp_path):
    capture = make_dslr(tmp_path)
    scene = read_scene(tmp_path, f"data/{SCENE}/dslr")
    assert scene.metric and [frame.image_path.name for frame in scene.frames] == ["DSC00001.JPG", "DSC00002.JPG"]
    frame = scene.frames[0]
    assert frame.image_path == capture / "resized_images" / "DSC00001.JPG" and frame.depth_path is None
    assert frame.distortion.model == "OPENCV_FISHEYE" and frame.distortion.params == tuple(FISHEYE[4:])
    np.testing.assert_array_equal(frame.intrinsics, [[60.0, 0, 31.5], [0, 61.0, 23.5], [0, 0, 1]])
    # world-to-camera t = (0, 0, 2): the camera centre is at world (0, 0, -2)
    np.testing.assert_allclose(frame.cam_to_world[:3, 3], [0.0, 0.0, -2.0], atol=1e-12)


def test_dslr_photo_is_undistorted_by_the_loader(tmp_path):
    # equidistant fisheye, f = 60, principal point (31.5, 23.5): a white stripe centred on column 55.5 of the
    # photo is the ray 0.4 rad off the axis (24 / 60), which a pinhole of the same K sees at
    # 31.5 + 60 tan(0.4) = 56.87 on the horizontal through the principal point
    capture = make_dslr(tmp_path, names=("DSC00001.JPG",), params=[60.0, 60.0, 32.0, 24.0, 0.0, 0.0, 0.0, 0.0])
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[:, 55:57] = 255
    Image.fromarray(pixels).save(capture / "resized_images" / "DSC00001.JPG", quality=100)
    scene = read_scene(tmp_path, f"data/{SCENE}/dslr")
    image = MultiViewDataset([scene], crop_scale=(1.0, 1.0))[ViewRequest(0, 1, 48, 64, seed=0)]["images"][0]
    brightness = (image[:, 23:25, 45:].mean(dim=(0, 1)).numpy() + 1) / 2
    centroid = 45 + (brightness * np.arange(brightness.size)).sum() / brightness.sum()
    assert centroid == pytest.approx(31.5 + 60 * np.tan(0.4), abs=0.3)


def test_iphone_frames_depth_and_the_video_prefix(tmp_path):
    capture = make_iphone(tmp_path)
    scene = read_scene(tmp_path, f"data/{SCENE}/iphone")
    assert [frame.image_path for frame in scene.frames] == [capture / "rgb" / f"frame_{i:06d}.jpg" for i in (0, 1)]
    assert scene.has_depth and scene.frames[0].depth_scale == 1e-3 and scene.frames[0].distortion is None
    # the loader brings the 16x12 depth to 64x48: each depth pixel covers 4x4 image pixels
    sample = MultiViewDataset([scene], crop_scale=(1.0, 1.0))[ViewRequest(0, 1, 48, 64, seed=0)]
    v, u = np.mgrid[0:48, 0:64]
    np.testing.assert_allclose(sample["depth"][0].numpy(), (1000 + 10 * (v // 4) + u // 4) / 1000, rtol=1e-6)


def test_model_images_not_extracted_are_skipped_with_a_count(tmp_path):
    make_iphone(tmp_path, frames=(0, 1, 2), extracted=(0, 2))
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) the model names but .*rgb lacks"):
        scene = read_scene(tmp_path, f"data/{SCENE}/iphone")
    assert [frame.image_path.name for frame in scene.frames] == ["frame_000000.jpg", "frame_000002.jpg"]


def test_images_only_opens_no_colmap_file_and_no_depth(tmp_path):
    capture = make_iphone(tmp_path)
    for path in (capture / "colmap").iterdir():
        path.write_text("garbage that would fail to parse")
    scene = read_scene(tmp_path, f"data/{SCENE}/iphone", cameras=False, depth=False)
    assert len(scene) == 2 and not scene.has_cameras and not scene.has_depth
    assert read_scene(tmp_path, f"data/{SCENE}/iphone", cameras=False).has_depth
    with pytest.raises(FormatError, match="not a readable COLMAP model"):
        read_scene(tmp_path, f"data/{SCENE}/iphone")


def test_non_finite_poses_skipped_with_a_count(tmp_path):
    make_dslr(tmp_path, tvec=(0.0, float("nan"), 2.0))
    with pytest.warns(UserWarning, match="skipped 2 frame"):
        assert len(read_scene(tmp_path, f"data/{SCENE}/dslr")) == 0


def test_captures_listed_per_format_and_other_roots_refused(tmp_path):
    make_dslr(tmp_path)
    make_iphone(tmp_path)
    assert get_format("scannetpp").find_scenes(tmp_path) == [f"data/{SCENE}/dslr", f"data/{SCENE}/iphone"]
    assert scannetpp_format("iphone").find_scenes(tmp_path / "data") == [f"{SCENE}/iphone"]
    assert scannetpp_format("dslr").name == "scannetpp-dslr"
    # both captures are registered formats, so a data.sources entry can name one; a training that needs
    # depth reads the iPhone captures (the DSLR has none)
    assert get_format("scannetpp-iphone").find_scenes(tmp_path) == [f"data/{SCENE}/iphone"]
    assert get_format("scannetpp-dslr").find_scenes(tmp_path) == [f"data/{SCENE}/dslr"]
    entry = DatasetSourceConfig(path=str(tmp_path), format="scannetpp-iphone")
    assert len(open_source(entry, require=("depth", "cameras"))) == 1
    with pytest.raises(ValueError, match=r"every scene needs depth and cameras; scenes without them: .*dslr"):
        open_source(DatasetSourceConfig(path=str(tmp_path), format="scannetpp"), require=("depth", "cameras"))
    assert [scene.name for scene in read_dataset(tmp_path, "scannetpp", cameras=False)] == [
        f"data/{SCENE}/dslr",
        f"data/{SCENE}/iphone",
    ]
    with pytest.raises(ValueError, match="unknown ScanNet\\+\\+ capture 'video'"):
        scannetpp_format("video")
    with pytest.raises(FormatError, match=r"not a ScanNet\+\+ root: expected capture folders"):
        get_format("scannetpp").find_scenes(tmp_path / "data" / SCENE / "dslr" / "colmap")
    with pytest.raises(FormatError, match="not a ScanNet\\+\\+ capture folder"):
        read_scene(tmp_path, f"data/{SCENE}")


def test_an_image_folder_linked_from_outside_the_root_is_refused(tmp_path):
    outside = make_iphone(tmp_path / "elsewhere")
    root = tmp_path / "root"
    capture = root / "data" / SCENE / "iphone"
    capture.mkdir(parents=True)
    for name in ("colmap", "depth"):
        (outside / name).rename(capture / name)
    (capture / "rgb").symlink_to(outside / "rgb")
    with pytest.raises(OutsideRootError, match="leads outside"):
        read_scene(root, f"data/{SCENE}/iphone")
