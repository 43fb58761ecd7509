"""RealEstate10K: pose files of the real sample (CameraCtrl's two clips) with frames decoded from their
videos; pose direction checked against the motion, intrinsics against the frame size, timestamps against
a video with known frames."""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from muskie.data.formats import FORMATS, FormatError, read_dataset
from muskie.data.formats.realestate10k import extract_video_frames, read_pose_file

SAMPLES = Path(os.environ.get("MUSKIE_FORMAT_SAMPLES", Path(__file__).resolve().parents[2] / "shared/data/formats"))
CLIPS = ("0bf152ef84195293", "0c11dbe781b1c11c")
av = pytest.importorskip("av")


@pytest.fixture
def sample() -> Path:
    root = SAMPLES / "realestate10k"
    if not (root / "pose_files").is_dir():
        pytest.skip(f"RealEstate10K sample not found at {root} (set MUSKIE_FORMAT_SAMPLES to shared/data/formats)")
    return root


@pytest.fixture
def dataset(sample, tmp_path) -> Path:
    """The sample's pose files with each clip's 16 video frames decoded into ``frames/<clip>/``."""
    root = tmp_path / "re10k"
    shutil.copytree(sample / "pose_files", root / "pose_files")
    for clip in CLIPS:
        extract_video_frames(
            sample / f"reference_videos/{clip}.mp4", root / f"pose_files/{clip}.txt", root / "frames", match="index"
        )
    return root


def test_frames_decoded_from_the_video_load_with_their_rows(dataset):
    scenes = read_dataset(dataset, "realestate10k")
    assert [scene.name for scene in scenes] == list(CLIPS)
    _, rows = read_pose_file(dataset / f"pose_files/{CLIPS[0]}.txt")
    scene = scenes[0]
    assert not scene.metric and len(scene) == 16 and scene.has_cameras and not scene.has_depth
    assert [f.image_path.name for f in scene.frames] == [f"{row.timestamp}.png" for row in rows]
    assert all((f.width, f.height) == (384, 256) for f in scene.frames)
    # K scaled to the 384x256 frames: fx = 0.4748 W, fy = 0.8441 H, centre at the middle pixel
    np.testing.assert_allclose(
        scene.frames[0].intrinsics, [[0.474812461 * 384, 0, 191.5], [0, 0.844111024 * 256, 127.5], [0, 0, 1]]
    )
    np.testing.assert_allclose(scene.frames[3].cam_to_world @ rows[3].world_to_camera, np.eye(4), atol=1e-6)


def test_the_camera_moves_forward_along_its_optical_axis(dataset):
    """A walk-through: the centres (camera-to-world translations) move along the first camera's viewing
    direction (its z axis); reading the rows as camera-to-world would send it backwards."""
    for scene in read_dataset(dataset, "realestate10k"):
        first, last = scene.frames[0].cam_to_world, scene.frames[-1].cam_to_world
        motion = last[:3, 3] - first[:3, 3]
        assert first[:3, 2] @ motion / np.linalg.norm(motion) > 0.8  # measured 0.95 and 0.88
        misread = np.linalg.inv(last)[:3, 3] - np.linalg.inv(first)[:3, 3]
        assert np.linalg.inv(first)[:3, 2] @ misread / np.linalg.norm(misread) < -0.8


def test_intrinsics_follow_the_size_of_the_stored_frames(dataset):
    folder = dataset / f"frames/{CLIPS[1]}"
    for path in folder.iterdir():
        Image.open(path).resize((192, 128)).save(path)
    scene = FORMATS["realestate10k"].read_scene(dataset, f"pose_files/{CLIPS[1]}")
    np.testing.assert_allclose(
        scene.frames[0].intrinsics, [[0.485 * 192, 0, 95.5], [0, 0.8629 * 128, 63.5], [0, 0, 1]], rtol=1e-3
    )


def write_video(path: Path, levels: list[int], fps: int = 4) -> None:
    """A tiny H.264 video whose frame k is a uniform grey of ``levels[k]``, a key frame every two frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = 2
        for level in levels:
            image = np.full((48, 64, 3), level, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def pose_file(path: Path, timestamps: list[int]) -> None:
    rows = [f"{t} 0.5 0.8 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 {i}" for i, t in enumerate(timestamps)]
    path.write_text("https://www.youtube.com/watch?v=x\n" + "\n".join(rows) + "\n")


def test_rows_take_the_frame_shown_at_their_timestamp(tmp_path):
    levels = [0, 40, 80, 120, 160, 200]
    write_video(tmp_path / "clip.mp4", levels)  # frames at 0, 0.25, 0.5, ... s
    (tmp_path / "test").mkdir()
    pose_file(tmp_path / "test/clip.txt", [260_000, 0, 740_000, 1_250_000])
    paths = extract_video_frames(tmp_path / "clip.mp4", tmp_path / "test/clip.txt", tmp_path / "frames")
    shown = [float(np.asarray(Image.open(p)).mean()) for p in paths]
    np.testing.assert_allclose(shown, [40, 0, 80, 200], atol=4)
    scene = FORMATS["realestate10k"].read_scene(tmp_path, "test/clip", cameras=False)
    assert len(scene) == 4 and all(f.intrinsics is None and f.cam_to_world is None for f in scene.frames)
    # a clip starting later in the video: decoding starts from the key frame before its first row
    pose_file(tmp_path / "test/late.txt", [1_000_000, 760_000])
    paths = extract_video_frames(tmp_path / "clip.mp4", tmp_path / "test/late.txt", tmp_path / "frames")
    np.testing.assert_allclose([float(np.asarray(Image.open(p)).mean()) for p in paths], [160, 120], atol=4)


def test_rows_outside_the_video_are_refused(sample, tmp_path):
    # the sample's rows carry the YouTube video's timestamps (158 s on), its mp4 lasts 2 s
    with pytest.raises(ValueError, match="16 of 16 rows .* have no frame in the video"):
        extract_video_frames(
            sample / f"reference_videos/{CLIPS[0]}.mp4", sample / f"pose_files/{CLIPS[0]}.txt", tmp_path / "frames"
        )


def test_a_missing_pyav_is_named(sample, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match="needs PyAV"):
        extract_video_frames(
            sample / f"reference_videos/{CLIPS[0]}.mp4",
            sample / f"pose_files/{CLIPS[0]}.txt",
            tmp_path / "frames",
            match="index",
        )


def test_a_non_rigid_row_is_skipped_and_counted(dataset):
    path = dataset / f"pose_files/{CLIPS[0]}.txt"
    lines = path.read_text().splitlines()
    tokens = lines[2].split()
    tokens[7] = "2.0"  # r11: no longer a rotation
    lines[2] = " ".join(tokens)
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="skipped 1 frame"):
        scene = FORMATS["realestate10k"].read_scene(dataset, f"pose_files/{CLIPS[0]}")
    assert len(scene) == 15


def test_clips_without_frames_are_not_listed(dataset):
    shutil.rmtree(dataset / f"frames/{CLIPS[0]}")
    assert FORMATS["realestate10k"].find_scenes(dataset) == [f"pose_files/{CLIPS[1]}"]
    with pytest.raises(FormatError, match=f"the clip's frames in .*frames/{CLIPS[0]}"):
        FORMATS["realestate10k"].read_scene(dataset, f"pose_files/{CLIPS[0]}")


def test_bad_rows_and_roots_are_refused(tmp_path):
    with pytest.raises(FormatError, match="not a RealEstate10K root: expected pose files"):
        read_dataset(tmp_path, "realestate10k")
    pose_file(tmp_path / "clip.txt", [0])
    with pytest.raises(FormatError, match=r"expected extracted frames of its 1 clip\(s\) in frames/<clip>"):
        read_dataset(tmp_path, "realestate10k")
    (tmp_path / "clip.txt").write_text("url\n0 0.5 0.5\n")
    with pytest.raises(ValueError, match="clip.txt: line 2: not a pose row"):
        read_pose_file(tmp_path / "clip.txt")
