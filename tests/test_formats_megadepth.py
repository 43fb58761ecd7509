"""MegaDepth: the real sample's scene info (pickled, refused by default) and its overlapping pair, whose
depth reprojects between the two views with the poses read as world-to-camera; the raw dense layout from
the same files; LoFTR's MegaDepth-1500 scene info and its path convention."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from muskie.data.dataset_paths import OutsideRootError
from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FORMATS, FormatError, read_dataset
from muskie.data.formats.megadepth import read_scene_info
from muskie.data.sources.colmap import ColmapCamera, ColmapImage, write_colmap_model
from muskie.geometry import (
    gather_pixels,
    invert_pose,
    nearest_pixel,
    project_points,
    rotation_to_quaternion,
    unproject_depth,
)

SAMPLES = Path(os.environ.get("MUSKIE_FORMAT_SAMPLES", Path(__file__).resolve().parents[2] / "shared/data/formats"))
PAIR = ("8583256543_96562c14f2_o", "5122787062_7ef463a806_o")  # entries 1462 and 1474 of sample.npz
pytest.importorskip("h5py")


@pytest.fixture
def sample() -> Path:
    root = SAMPLES / "megadepth"
    if not (root / "megadepth_sample" / "sample.npz").is_file():
        pytest.skip(f"MegaDepth sample not found at {root} (set MUSKIE_FORMAT_SAMPLES to shared/data/formats)")
    return root


def read_sample(root: Path, **kwargs):
    with pytest.warns(UserWarning, match="334 of 336 listed images are not under"):
        return FORMATS["megadepth"].read_scene(root, "sample.npz", allow_pickle=True, **kwargs)


def median_relative_depth_error(frame_a, frame_b, swap_direction=False) -> tuple[float, int]:
    """Lift frame a's depth with its camera, project into frame b and compare with b's depth: the median
    relative error over the points landing on b's valid pixels, and their count. ``swap_direction`` reads
    the poses the other way round (as if they were world-to-camera)."""
    depth_a, depth_b = read_frame_depth(frame_a).double(), read_frame_depth(frame_b).double()
    poses = [torch.from_numpy(f.cam_to_world) for f in (frame_a, frame_b)]
    if swap_direction:
        poses = [invert_pose(p) for p in poses]
    k_a, k_b = torch.from_numpy(frame_a.intrinsics), torch.from_numpy(frame_b.intrinsics)
    points = unproject_depth(depth_a, k_a, poses[0])[depth_a > 0]
    uv, z = project_points(points, k_b, poses[1])
    index, inside = nearest_pixel(uv, *depth_b.shape)
    observed = gather_pixels(depth_b, index)
    keep = inside & (z > 0) & (observed > 0)
    return float(((z[keep] - observed[keep]).abs() / observed[keep]).median()), int(keep.sum())


def test_scene_info_is_refused_unless_pickle_is_allowed(sample):
    root = sample / "megadepth_sample"
    with pytest.raises(
        ValueError,
        match="sample.npz: a MegaDepth scene-info file holds pickled Python objects "
        "and unpickling runs code from the file; pass allow_pickle=True",
    ):
        FORMATS["megadepth"].read_scene(root, "sample.npz")
    with pytest.raises(ValueError, match="pickled"):
        read_dataset(root, "megadepth")


def test_the_sample_pair_loads_with_its_overlap_as_neighbours(sample):
    scene = read_sample(sample / "megadepth_sample")
    assert [f.image_path.stem for f in scene.frames] == list(PAIR)
    assert not scene.metric and scene.has_cameras and scene.has_depth
    assert [(f.width, f.height) for f in scene.frames] == [(1242, 827), (1194, 1600)]
    assert scene.neighbours == {0: [1], 1: [0]}
    # K as stored is COLMAP's (cx = W / 2 for a centred camera); ours has pixel centres at integers
    assert scene.frames[1].intrinsics[0, 2] == pytest.approx(597.0 - 0.5)
    assert read_frame_depth(scene.frames[1]).shape == (1600, 1194)


def test_depth_reprojects_between_the_pair(sample):
    scene = read_sample(sample / "megadepth_sample")
    error, count = median_relative_depth_error(scene.frames[1], scene.frames[0])
    assert count > 100_000 and error < 0.01  # measured: 0.02% over 842k points (20% inverted)
    wrong, _ = median_relative_depth_error(scene.frames[1], scene.frames[0], swap_direction=True)
    assert wrong > 0.1


def test_images_only_reads_no_depth(sample, tmp_path):
    root = tmp_path / "md"
    shutil.copytree(sample / "megadepth_sample", root)
    for path in root.glob("*.h5"):
        path.unlink()
    scene = read_sample(root, cameras=False, depth=False)
    assert len(scene) == 2 and all(f.depth_path is None and f.intrinsics is None for f in scene.frames)


def test_paths_leaving_the_root_are_refused_unless_allowed(sample, tmp_path):
    info = dict(np.load(sample / "megadepth_sample/sample.npz", allow_pickle=True))
    info["image_paths"] = info["image_paths"].copy()
    info["image_paths"][1474] = "../elsewhere/5122787062_7ef463a806_o.jpg"
    (tmp_path / "root").mkdir()
    np.savez(tmp_path / "root/bad.npz", **info)
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(sample / "megadepth_sample/5122787062_7ef463a806_o.jpg", tmp_path / "elsewhere")
    with pytest.raises(OutsideRootError, match=r"bad.npz: entry 1474: path '../elsewhere/.*' leads outside"):
        FORMATS["megadepth"].read_scene(tmp_path / "root", "bad.npz", allow_pickle=True)
    with pytest.warns(UserWarning, match="335 of 336 listed images"):
        scene = FORMATS["megadepth"].read_scene(
            tmp_path / "root", "bad.npz", allow_pickle=True, depth=False, allow_outside=True
        )
    assert [f.image_path.parent.name for f in scene.frames] == ["elsewhere"]


def test_loftr_scene_info_names_paths_from_the_megadepth_root(sample):
    info = read_scene_info(sample / "megadepth_test_1500_scene_info/0015_0.1_0.3.npz", allow_pickle=True)
    assert len(info.image_paths) == 445 and len(info.pairs) == 300
    first = min(info.image_paths)
    assert info.image_paths[first].startswith("Undistorted_SfM/0015/images/")
    assert info.depth_paths[first].endswith("0015/dense0/depths/" + Path(info.image_paths[first]).stem + ".h5")
    (i, j), overlap = info.pairs[0]
    assert i in info.image_paths and j in info.image_paths and 0.1 <= overlap <= 0.3


def raw_layout(sample: Path, root: Path, model: str = "PINHOLE") -> Path:
    """The sample pair in the raw layout ``<scene>/dense0/{imgs,depths,sparse}``, its COLMAP model written
    from the scene info's cameras."""
    dense = root / "0001" / "dense0"
    (dense / "imgs").mkdir(parents=True)
    (dense / "depths").mkdir()
    info = read_scene_info(sample / "megadepth_sample/sample.npz", allow_pickle=True)
    cameras, images = {}, {}
    for index, (entry, stem) in enumerate(zip((1462, 1474), PAIR, strict=True), start=1):
        shutil.copy(sample / f"megadepth_sample/{stem}.jpg", dense / "imgs")
        shutil.copy(sample / f"megadepth_sample/{stem}.h5", dense / "depths")
        k, w2c = info.intrinsics[entry], info.world_to_camera[entry]
        size = (1242, 827) if index == 1 else (1194, 1600)
        params = [k[0, 0], k[1, 1], k[0, 2], k[1, 2]] + ([0.01, 0.0, 0.0, 0.0] if model == "OPENCV" else [])
        cameras[index] = ColmapCamera(index, model, *size, np.array(params))
        images[index] = ColmapImage(index, rotation_to_quaternion(w2c[:3, :3]), w2c[:3, 3], index, f"{stem}.jpg")
    write_colmap_model(dense / "sparse", cameras, images)
    return root


def test_the_raw_dense_layout_reads_the_same_cameras(sample, tmp_path):
    root = raw_layout(sample, tmp_path / "raw")
    assert read_dataset(root, "megadepth") and FORMATS["megadepth"].find_scenes(root) == ["0001/dense0"]
    raw = FORMATS["megadepth"].read_scene(root, "0001/dense0")
    from_info = {f.image_path.name: f for f in read_sample(sample / "megadepth_sample").frames}
    assert [f.image_path.stem for f in raw.frames] == sorted(PAIR)  # raw frames: image name order
    for a in raw.frames:
        b = from_info[a.image_path.name]
        assert a.depth_path.name == b.depth_path.name
        np.testing.assert_allclose(a.intrinsics, b.intrinsics)
        np.testing.assert_allclose(a.cam_to_world, b.cam_to_world, atol=1e-9)
    error, _ = median_relative_depth_error(raw.frames[1], raw.frames[0])
    assert error < 0.01


def test_a_distorted_model_is_refused_and_images_only_needs_no_model(sample, tmp_path):
    root = raw_layout(sample, tmp_path / "raw", model="OPENCV")
    with pytest.raises(ValueError, match="OPENCV describe the distorted photos"):
        FORMATS["megadepth"].read_scene(root, "0001/dense0")
    shutil.rmtree(root / "0001/dense0/sparse")
    shutil.rmtree(root / "0001/dense0/depths")
    scene = FORMATS["megadepth"].read_scene(root, "0001/dense0", cameras=False, depth=False)
    assert [f.image_path.stem for f in scene.frames] == sorted(PAIR)
    with pytest.raises(FormatError, match="expected a COLMAP model in"):
        FORMATS["megadepth"].read_scene(root, "0001/dense0")


def test_a_root_of_something_else_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(FormatError, match="not a MegaDepth root: expected scene-info files"):
        read_dataset(tmp_path, "megadepth")
