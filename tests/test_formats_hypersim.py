"""Hypersim: the real sample (ai_037_002, cam_00: keyframes, camera csv, the depth of frame 0; it has no
colour, so the tests add tone-mapped frames) read with exact tilt-shift intrinsics, metres, OpenCV axes and
ray distances turned into z-depth; checked against the authors' own per-pixel rays (``M_cam_from_uv``)."""

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FORMATS, FormatError, read_dataset
from muskie.data.formats.hypersim import CAMERA_PARAMETERS, read_camera_parameters
from muskie.geometry import pinhole_from_opengl_projection

SAMPLES = Path(os.environ.get("MUSKIE_FORMAT_SAMPLES", Path(__file__).resolve().parents[2] / "shared/data/formats"))
h5py = pytest.importorskip("h5py")
PREVIEW = "images/scene_cam_00_final_preview"


@pytest.fixture
def sample() -> Path:
    root = SAMPLES / "hypersim"
    if not (root / "ai_037_002" / "_detail").is_dir():
        pytest.skip(f"Hypersim sample not found at {root} (set MUSKIE_FORMAT_SAMPLES to shared/data/formats)")
    return root


@pytest.fixture
def dataset(sample, tmp_path) -> Path:
    """The sample with grey tone-mapped previews for frames 0 and 1 at the scene's 1024 x 768."""
    root = tmp_path / "hypersim"
    shutil.copytree(sample / "ai_037_002", root / "ai_037_002")
    shutil.copy(sample / CAMERA_PARAMETERS, root)
    (root / "ai_037_002" / PREVIEW).mkdir(parents=True)
    for index in (0, 1):
        image = root / "ai_037_002" / PREVIEW / f"frame.000{index}.tonemap.jpg"
        Image.new("RGB", (1024, 768), (90, 90, 90)).save(image)
    return root


def authors_rays(root: Path, scene: str) -> np.ndarray:
    """``(H, W, 3)`` per-pixel ray directions in OpenGL camera axes, as ml-hypersim's notebook 01 casts them:
    ``M_cam_from_uv (u, v, 1)`` at the pixel centres' normalised coordinates."""
    row = next(r for r in csv.DictReader(open(root / CAMERA_PARAMETERS)) if r["scene_name"] == scene)
    cam_from_uv = np.array([[float(row[f"M_cam_from_uv_{i}{j}"]) for j in range(3)] for i in range(3)])
    width, height = int(float(row["settings_output_img_width"])), int(float(row["settings_output_img_height"]))
    column, line = np.meshgrid(np.arange(width), np.arange(height))
    uv = np.stack([-1 + (2 * column + 1) / width, 1 - (2 * line + 1) / height, np.ones(column.shape)], axis=-1)
    return uv @ cam_from_uv.T


def test_the_sample_reads_as_one_metric_trajectory(dataset):
    scenes = read_dataset(dataset, "hypersim")
    assert [s.name for s in scenes] == ["ai_037_002/cam_00"] and FORMATS["hypersim"].window == 16
    scene = scenes[0]
    assert scene.metric and scene.has_cameras and len(scene) == 2
    assert scene.frames[0].depth_along_ray and scene.frames[1].depth_path is None  # only frame 0 has depth
    with h5py.File(dataset / "ai_037_002/_detail/cam_00/camera_keyframe_positions.hdf5") as handle:
        positions = handle["dataset"][()]
    # asset units (here centimetres) to metres
    np.testing.assert_allclose(scene.frames[1].cam_to_world[:3, 3], positions[1] * 0.01, rtol=1e-6)


def test_tilt_shift_intrinsics_are_exact_against_the_authors_rays(dataset):
    """Every pixel's ray from ``M_cam_from_uv``, turned into OpenCV axes and world coordinates with the
    keyframe's pose, projects with the adapter's K and pose onto that very pixel. The formula reading K off
    M_proj's first two rows gives the README's figures and misses by pixels."""
    frame = FORMATS["hypersim"].read_scene(dataset, "ai_037_002/cam_00").frames[0]
    rays_cv = authors_rays(dataset, "ai_037_002") * [1, -1, -1]
    with h5py.File(dataset / "ai_037_002/_detail/cam_00/camera_keyframe_orientations.hdf5") as handle:
        world_from_cam = handle["dataset"][0] @ np.diag([1.0, -1.0, -1.0])
    in_pinhole = rays_cv @ world_from_cam.T @ frame.cam_to_world[:3, :3]  # world directions -> the frame's axes
    pixels = in_pinhole @ frame.intrinsics.T
    pixels = pixels[..., :2] / pixels[..., 2:]
    column, line = np.meshgrid(np.arange(1024), np.arange(768))
    assert np.abs(pixels - np.stack([column, line], axis=-1)).max() < 1e-4  # 2.5e-5 px: float32-precise keyframes
    # exact: square pixels, no skew, an image plane turned by 0.53 degrees
    np.testing.assert_allclose(frame.intrinsics, [[887.535, 0, 572.940], [0, 887.535, 457.142], [0, 0, 1]], atol=1e-3)
    matrix = read_camera_parameters(dataset, "ai_037_002")["M_proj"]
    matrix[3] = [0, 0, -1, 0]  # what the first-two-rows formula assumes
    approximate, _ = pinhole_from_opengl_projection(matrix, 1024, 768)
    # README (CUT3R's formula, pixel edges at integers): fx 883.36, fy 882.63, skew -0.57, c = (573.15, 465.53)
    np.testing.assert_allclose(
        approximate + [[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]],
        [[883.36, -0.57, 573.15], [0, 882.63, 465.53], [0, 0, 1]],
        atol=0.006,
    )
    wrong = rays_cv @ approximate.T
    assert np.abs(wrong[..., :2] / wrong[..., 2:] - np.stack([column, line], axis=-1)).max() > 3  # 4.04 px


def test_ray_distance_becomes_z_depth(dataset):
    """The stored distance d along pixel (u, v)'s ray is a point at d r / |r| (r the authors' ray); its z in
    the frame's camera is the depth read. For a centred pinhole that is the documented d f / |(x, y, f)|."""
    frame = FORMATS["hypersim"].read_scene(dataset, "ai_037_002/cam_00").frames[0]
    with h5py.File(frame.depth_path) as handle:
        distance = handle["dataset"][()].astype(np.float64)
    rays = authors_rays(dataset, "ai_037_002") * [1, -1, -1]
    with h5py.File(dataset / "ai_037_002/_detail/cam_00/camera_keyframe_orientations.hdf5") as handle:
        world_from_cam = handle["dataset"][0] @ np.diag([1.0, -1.0, -1.0])
    points = distance[..., None] * rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    expected_z = (points @ world_from_cam.T @ frame.cam_to_world[:3, :3])[..., 2]
    depth = read_frame_depth(frame).numpy()
    valid = np.isfinite(distance)
    assert valid.mean() > 0.99
    np.testing.assert_allclose(depth[valid], expected_z[valid], rtol=1e-5)
    assert np.all(depth[valid] < distance[valid] + 1e-3) and np.all(depth[~valid] == 0)


def plain_scene(root: Path, focal: float = 6.0, size=(8, 6)) -> np.ndarray:
    """A scene ai_000_000 with a centred pinhole (focal in pixels), one keyframe at (100, 0, 0) asset units
    rotated 90 degrees about the vertical, a metres-per-unit of 0.02, and a distance map of 5 m."""
    width, height = size
    scene = root / "ai_000_000"
    (scene / PREVIEW).mkdir(parents=True)
    Image.new("RGB", size).save(scene / PREVIEW / "frame.0000.tonemap.jpg")
    detail = scene / "_detail" / "cam_00"
    detail.mkdir(parents=True)
    turn = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    with h5py.File(detail / "camera_keyframe_orientations.hdf5", "w") as handle:
        handle["dataset"] = turn[None]
    with h5py.File(detail / "camera_keyframe_positions.hdf5", "w") as handle:
        handle["dataset"] = np.array([[100.0, 0, 0]])
    geometry = scene / "images/scene_cam_00_geometry_hdf5"
    geometry.mkdir(parents=True)
    with h5py.File(geometry / "frame.0000.depth_meters.hdf5", "w") as handle:
        handle["dataset"] = np.full((height, width), 5.0, dtype=np.float16)
    m = {
        "M_proj_00": 2 * focal / width,
        "M_proj_11": 2 * focal / height,
        "M_proj_22": -1.0,
        "M_proj_23": -2.0,
        "M_proj_32": -1.0,
    }
    columns = [
        "scene_name",
        "settings_output_img_width",
        "settings_output_img_height",
        "settings_units_info_meters_scale",
    ] + [f"M_proj_{i}{j}" for i in range(4) for j in range(4)]
    with open(root / CAMERA_PARAMETERS, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerow(
            {
                "scene_name": "ai_000_000",
                "settings_output_img_width": width,
                "settings_output_img_height": height,
                "settings_units_info_meters_scale": 0.02,
                **{c: m.get(c, 0.0) for c in columns[4:]},
            }
        )
    return turn


def test_a_plain_camera_flips_opengl_axes_and_uses_the_documented_depth_formula(tmp_path):
    turn = plain_scene(tmp_path)
    frame = FORMATS["hypersim"].read_scene(tmp_path, "ai_000_000/cam_00").frames[0]
    np.testing.assert_allclose(frame.intrinsics, [[6, 0, 3.5], [0, 6, 2.5], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(frame.cam_to_world[:3, :3], turn @ np.diag([1, -1, -1]), atol=1e-12)
    np.testing.assert_allclose(frame.cam_to_world[:3, 3], [2.0, 0, 0])
    # the keyframe's OpenGL z (backwards) is world +x, so the OpenCV camera looks along world -x
    np.testing.assert_allclose(frame.cam_to_world[:3, 2], [-1, 0, 0], atol=1e-12)
    x, y = np.meshgrid(np.arange(8) - 3.5, np.arange(6) - 2.5)
    np.testing.assert_allclose(read_frame_depth(frame).numpy(), 5.0 * 6 / np.sqrt(x**2 + y**2 + 36), rtol=1e-6)


def test_scene_metadata_units_must_agree_with_the_csv(tmp_path):
    plain_scene(tmp_path)
    (tmp_path / "ai_000_000/_detail/metadata_scene.csv").write_text(
        "parameter_name,parameter_value\nmeters_per_asset_unit,0.0254\n"
    )
    with pytest.raises(ValueError, match="meters_per_asset_unit 0.0254 disagrees"):
        FORMATS["hypersim"].read_scene(tmp_path, "ai_000_000/cam_00")


def test_images_only_needs_no_camera_or_depth_file(tmp_path):
    plain_scene(tmp_path)
    (tmp_path / CAMERA_PARAMETERS).unlink()
    shutil.rmtree(tmp_path / "ai_000_000/_detail")
    shutil.rmtree(tmp_path / "ai_000_000/images/scene_cam_00_geometry_hdf5")
    scene = FORMATS["hypersim"].read_scene(tmp_path, "ai_000_000/cam_00", cameras=False, depth=False)
    assert len(scene) == 1 and scene.frames[0].intrinsics is None and scene.frames[0].depth_path is None
    with pytest.raises(FormatError, match="needs metadata_camera_parameters.csv for cameras"):
        FORMATS["hypersim"].read_scene(tmp_path, "ai_000_000/cam_00")


def test_a_preview_of_another_size_is_refused(tmp_path):
    plain_scene(tmp_path)
    Image.new("RGB", (16, 12)).save(tmp_path / "ai_000_000" / PREVIEW / "frame.0000.tonemap.jpg")
    with pytest.raises(ValueError, match="16x12, but metadata_camera_parameters.csv gives ai_000_000 8x6"):
        FORMATS["hypersim"].read_scene(tmp_path, "ai_000_000/cam_00")


def test_a_root_without_previews_is_refused(sample):
    with pytest.raises(FormatError, match="not a Hypersim root: expected <scene>/images/scene_cam_XX_final_preview"):
        read_dataset(sample, "hypersim")


def test_every_scene_of_the_csv_is_an_exact_pinhole(sample):
    """All 482 scenes' M_proj: points projected through the matrix (clip -> NDC -> pixels, centres at
    integers) land where K R puts them; many scenes need the rotation (a turned image plane) or the
    off-centre principal point."""
    points_cv = np.random.default_rng(0).uniform([-2, -2, 1], [2, 2, 10], (50, 3))
    points_gl = np.c_[points_cv * [1, -1, -1], np.ones(50)]
    turned = off_centre = 0
    rows = list(csv.DictReader(open(sample / CAMERA_PARAMETERS)))
    for row in rows:
        matrix = np.array([[float(row[f"M_proj_{i}{j}"]) for j in range(4)] for i in range(4)])
        width, height = int(float(row["settings_output_img_width"])), int(float(row["settings_output_img_height"]))
        k, r = pinhole_from_opengl_projection(matrix, width, height)
        clip = points_gl @ matrix.T
        ndc = clip[:, :2] / clip[:, 3:]
        expected = np.c_[(ndc[:, 0] + 1) * width / 2 - 0.5, (1 - ndc[:, 1]) * height / 2 - 0.5]
        pixels = points_cv @ (k @ r).T
        np.testing.assert_allclose(pixels[:, :2] / pixels[:, 2:], expected, atol=1e-6)
        turned += not np.allclose(r, np.eye(3))
        off_centre += np.hypot(k[0, 2] - (width - 1) / 2, k[1, 2] - (height - 1) / 2) > 1
    assert len(rows) == 482 and turned == 278 and off_centre == 279
