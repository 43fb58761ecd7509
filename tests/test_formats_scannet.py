"""ScanNet: ScanNet-1500's pair lists (LoFTR) agree with SuperGlue's independent copy of the same pairs
(relative poses and intrinsics); a SensReader export built around the sample's real frames gives those
relative poses back; -inf poses, the two cameras and images-only reading."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.depth_codecs import read_frame_depth
from muskie.data.formats import FORMATS, FormatError, read_dataset
from muskie.data.formats.scannet import colour_intrinsics, read_scannet1500
from muskie.geometry import relative_poses

SAMPLES = Path(os.environ.get("MUSKIE_FORMAT_SAMPLES", Path(__file__).resolve().parents[2] / "shared/data/formats"))


@pytest.fixture
def sample() -> Path:
    root = SAMPLES / "scannet"
    if not (root / "scannet_test_1500" / "test.npz").is_file():
        pytest.skip(f"ScanNet sample not found at {root} (set MUSKIE_FORMAT_SAMPLES to shared/data/formats)")
    return root


def superglue_pairs(path: Path) -> list[dict]:
    """SuperGlue's pair lines: ``imgA imgB rotA rotB KA(9) KB(9) T_AB(16)``, images named
    ``sceneXXXX_YY_frame-NNNNNN.jpg``."""
    pairs = []
    for line in path.read_text().splitlines():
        tokens = line.split()
        values = np.array([float(t) for t in tokens[4:]])
        scene = tokens[0][:12]
        frames = [int(name.split("frame-")[1].split(".")[0]) for name in tokens[:2]]
        pairs.append(
            {
                "scene": scene,
                "frames": frames,
                "names": tokens[:2],
                "K": values[:9].reshape(3, 3),
                "T": values[18:].reshape(4, 4),
            }
        )
    return pairs


def test_scannet1500_pairs_read_with_their_scenes(sample):
    pairs = read_scannet1500(sample / "scannet_test_1500/test.npz", sample / "scannet_test_1500/intrinsics.npz")
    assert len(pairs) == 1500 and len({p.scene for p in pairs}) == 100
    first = pairs[0]
    assert (first.scene, first.frame0, first.frame1) == ("scene0707_00", 15, 585)
    rotation = first.relative_pose[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-4)
    np.testing.assert_array_equal(first.relative_pose[3], [0, 0, 0, 1])


def test_the_sample_pairs_relative_poses_are_the_benchmarks_ground_truth(sample, tmp_path):
    """14 of SuperGlue's 15 ScanNet pairs are ScanNet-1500 pairs; their T_AB is the benchmark's T_0to1, and
    SuperGlue's colour K (1296x968) rescaled to 640x480 is the benchmark's K."""
    benchmark = {
        (p.scene, p.frame0, p.frame1): p
        for p in read_scannet1500(sample / "scannet_test_1500/test.npz", sample / "scannet_test_1500/intrinsics.npz")
    }
    matched = 0
    for pair in superglue_pairs(sample / "scannet_sample_pairs_with_gt.txt"):
        truth = benchmark.get((pair["scene"], *pair["frames"]))
        if truth is None:
            continue
        matched += 1
        np.testing.assert_allclose(pair["T"], truth.relative_pose, atol=1e-5)
        scaled = scaled_colour_k(tmp_path, pair["K"], 640, 480)
        np.testing.assert_allclose(scaled[[0, 1], [0, 1]], truth.intrinsics[[0, 1], [0, 1]], rtol=1e-4)
        # the benchmark scales the principal point without the half-pixel shift: a quarter pixel apart
        np.testing.assert_allclose(scaled[:2, 2], truth.intrinsics[:2, 2], atol=0.26)
    assert matched == 14


def scaled_colour_k(folder: Path, k: np.ndarray, width: int, height: int) -> np.ndarray:
    """``k`` written as an ``intrinsic_color.txt`` and read back at ``width x height``."""
    path = folder / "intrinsic_color.txt"
    matrix = np.eye(4)
    matrix[:3, :3] = k
    np.savetxt(path, matrix)
    return colour_intrinsics(path, width, height)


def export(root: Path, sample: Path, colour_size=(1296, 968), with_depth=True) -> tuple[Path, dict]:
    """A SensReader export of scene0711_00 holding SuperGlue's pair 1680 / 1995 (real colour frames) and a
    third frame, with poses built the way LoFTR reads them: ``T_0to1 = inverse(pose_1) @ pose_0``."""
    pair = superglue_pairs(sample / "scannet_sample_pairs_with_gt.txt")[0]
    scene = root / "scans" / "scene0711_00"
    for sub in ("color", "depth", "pose", "intrinsic"):
        (scene / sub).mkdir(parents=True)
    pose0 = np.eye(4)
    pose0[:3, :3] = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    pose0[:3, 3] = [1.0, 2.0, 0.5]
    pose1 = pose0 @ np.linalg.inv(pair["T"])
    for number, name, pose in zip(
        pair["frames"] + [2000], pair["names"] + [pair["names"][0]], (pose0, pose1, pose0), strict=True
    ):
        Image.open(sample / "scannet_sample_images" / name).resize(colour_size).save(scene / f"color/{number}.jpg")
        np.savetxt(scene / f"pose/{number}.txt", pose)
        if with_depth:
            Image.fromarray(np.full((480, 640), 2500, dtype=np.uint16)).save(scene / f"depth/{number}.png")
    k = np.eye(4)
    k[:3, :3] = pair["K"]
    np.savetxt(scene / "intrinsic/intrinsic_color.txt", k)
    return root, pair


def test_an_export_gives_the_pairs_relative_pose_back(sample, tmp_path):
    root, pair = export(tmp_path, sample)
    assert FORMATS["scannet"].find_scenes(root) == ["scans/scene0711_00"]
    with pytest.warns(UserWarning, match="depth maps are 640x480, the colour images 1296x968"):
        scene = read_dataset(root, "scannet")[0]
    assert scene.metric and scene.has_cameras and not scene.has_depth
    assert [f.image_path.name for f in scene.frames] == ["1680.jpg", "1995.jpg", "2000.jpg"]
    np.testing.assert_allclose(scene.frames[0].intrinsics, pair["K"])
    poses = torch.from_numpy(np.stack([f.cam_to_world for f in scene.frames[:2]]))
    # relative_poses[1, 0] = inverse(T_1) T_0: camera-0 coordinates to camera 1, the benchmark's T_0to1
    # (to 1e-4: the pair file prints T to 5 decimals, so it is rigid only to that precision)
    np.testing.assert_allclose(relative_poses(poses)[1, 0].numpy(), pair["T"], atol=1e-4)


def test_depth_is_attached_where_colour_is_at_the_depth_size(sample, tmp_path):
    root, pair = export(tmp_path, sample, colour_size=(640, 480))
    scene = FORMATS["scannet"].read_scene(root, "scans/scene0711_00")
    assert scene.has_depth
    assert read_frame_depth(scene.frames[0])[0, 0] == pytest.approx(2.5)
    np.testing.assert_allclose(scene.frames[0].intrinsics[0, 0], pair["K"][0, 0] * 640 / 1296)


def test_infinite_poses_are_skipped_and_counted(sample, tmp_path):
    root, _ = export(tmp_path, sample, with_depth=False)
    (root / "scans/scene0711_00/pose/1995.txt").write_text("\n".join([" ".join(["-inf"] * 4)] * 4))
    with pytest.warns(UserWarning, match=r"scene0711_00/pose: skipped 1 frame\(s\) with a non-finite"):
        scene = FORMATS["scannet"].read_scene(root, "scans/scene0711_00")
    assert [f.image_path.name for f in scene.frames] == ["1680.jpg", "2000.jpg"]


def test_images_only_opens_no_pose_intrinsic_or_depth_file(sample, tmp_path):
    root, _ = export(tmp_path, sample)
    for sub in ("depth", "pose", "intrinsic"):
        shutil.rmtree(root / "scans/scene0711_00" / sub)
    scene = FORMATS["scannet"].read_scene(root, "scans/scene0711_00", cameras=False, depth=False)
    assert len(scene) == 3 and not scene.has_cameras and not scene.has_depth
    with pytest.raises(FileNotFoundError, match="pose/1680.txt"):
        FORMATS["scannet"].read_scene(root, "scans/scene0711_00")


def test_a_root_without_scans_is_refused(sample):
    with pytest.raises(FormatError, match="not a ScanNet root: expected <scene>/color"):
        read_dataset(sample, "scannet")
