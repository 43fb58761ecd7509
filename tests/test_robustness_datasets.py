"""Issue 14, dataset files: non-finite pixels, crafted headers, poses that are not rigid, symlink loops and
paths that lead out of a dataset, in every reader they reach (``transforms.json``, COLMAP, manifests, image
folders, the adapters), and full disks under the small files a run writes. Each case is a clear error naming
the file, a skip during training, or a count; ``docs/reliability.md`` lists them."""

import io
import json
import logging
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch
from cli_runner import run_cli
from fixtures import write_image_folder
from PIL import Image

from muskie.data.dataset_paths import OutsideRootError
from muskie.data.datasets import DatasetSourceConfig, SceneSourceConfig, open_source
from muskie.data.depth_codecs import read_depth
from muskie.data.formats import adapter_options, get_format, read_dataset
from muskie.data.imageio import ImageReadError, image_size, read_image
from muskie.data.scene import Frame
from muskie.data.sources import (
    build_manifest,
    load_manifest,
    load_scenes,
    read_colmap_scene,
    read_transforms_json,
    write_transforms_json,
)
from muskie.data.sources.colmap import ColmapCamera, ColmapImage, write_colmap_model
from muskie.data.sources.manifest import scene_record, write_manifest
from muskie.data.views import MultiViewDataset, ViewRequest
from muskie.report import write_report


def camera_scene(folder, num_frames=3, size=8, poses=None, depth=False):
    """A ``transforms.json`` scene of flat frames, cameras moving along x (or ``poses``, OpenCV)."""
    if poses is None:
        poses = np.tile(np.eye(4), (num_frames, 1, 1))
        poses[:, 0, 3] = np.arange(num_frames)
    images = torch.full((num_frames, 3, size, size), 0.5)
    intrinsics = np.tile(
        np.array([[10.0, 0, (size - 1) / 2], [0, 10.0, (size - 1) / 2], [0, 0, 1]]), (num_frames, 1, 1)
    )
    depth_maps = torch.ones(num_frames, size, size) if depth else None
    write_transforms_json(folder, images, intrinsics, poses, depth_maps)
    return folder


def edit_json(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def float_tiff(path, value, size=(8, 8)):
    """A one-channel float32 TIFF (Pillow mode ``F``) of 0.5 with one pixel set to ``value``."""
    pixels = np.full(size, 0.5, np.float32)
    pixels[2, 3] = value
    Image.fromarray(pixels, mode="F").save(path)


def png_claiming(path, width, height):
    """A PNG of a few dozen bytes whose header claims ``width x height`` 8-bit RGB pixels."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def npy_claiming(path, shape):
    """A 192-byte ``.npy`` whose header claims float32 values of ``shape``."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    data = buffer.getvalue()
    path.write_bytes(data + b"\0" * (192 - len(data)))


# ------------------------------------------------------------------------- item 1: non-finite pixels


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_a_float_image_with_non_finite_pixels_is_an_image_error_naming_it(tmp_path, value):
    float_tiff(tmp_path / "bad.tif", value)
    with pytest.raises(ImageReadError, match=r"bad.tif: 1 of 64 pixels are NaN or infinite"):
        read_image(tmp_path / "bad.tif")
    float_tiff(tmp_path / "good.tif", 0.25)
    assert torch.isfinite(read_image(tmp_path / "good.tif")).all()


def test_training_skips_a_view_with_nan_pixels_and_an_evaluation_names_it(tmp_path, caplog):
    write_image_folder(tmp_path / "good", 2, size=(8, 8))
    (tmp_path / "bad").mkdir()
    float_tiff(tmp_path / "bad" / "000.tif", 0.5)
    float_tiff(tmp_path / "bad" / "001.tif", np.nan)
    scenes = load_scenes(tmp_path)  # image folders read only headers: the scene loads
    assert [scene.name for scene in scenes] == ["bad", "good"]
    training = MultiViewDataset(scenes, skip_bad=True, images_only=True)
    with caplog.at_level(logging.WARNING, logger="muskie.data.views"):
        sample = training[ViewRequest(0, 2, 8, 8, seed=0)]
    assert sample["scene"] == "good" and torch.isfinite(sample["images"]).all()
    assert training.num_skipped == 1 and "001.tif: 1 of 64 pixels are NaN or infinite" in caplog.text
    with pytest.raises(ImageReadError, match="001.tif: 1 of 64 pixels are NaN or infinite"):
        MultiViewDataset(scenes, skip_bad=False, images_only=True)[ViewRequest(0, 2, 8, 8, seed=0)]


# ----------------------------------------------------------------------- item 2: crafted depth headers


def test_a_depth_npy_claiming_2_to_the_40_values_is_skipped_and_pretraining_never_reads_it(tmp_path, caplog):
    camera_scene(tmp_path / "bad", 2, depth=True)
    camera_scene(tmp_path / "good", 2, depth=True)
    npy_claiming(tmp_path / "bad" / "depth" / "001.npy", (2**20, 2**20))
    edit_json(
        tmp_path / "bad" / "transforms.json", lambda meta: meta["frames"][1].update(depth_file_path="depth/001.npy")
    )
    with pytest.raises(ImageReadError, match=r"001.npy: cannot read depth array"):
        read_depth(tmp_path / "bad" / "depth" / "001.npy")
    scenes = load_scenes(tmp_path)
    with caplog.at_level(logging.WARNING, logger="muskie.data.views"):
        sample = MultiViewDataset(scenes, skip_bad=True)[ViewRequest(0, 2, 8, 8, seed=0)]
    assert sample["scene"] == "good" and "001.npy: cannot read depth array" in caplog.text
    images_only = MultiViewDataset(scenes, skip_bad=True, images_only=True)
    assert images_only[ViewRequest(0, 2, 8, 8, seed=0)]["scene"] == "bad" and images_only.num_skipped == 0


def test_scannet1500_files_claiming_huge_arrays_are_refused_before_allocation(tmp_path):
    from muskie.data.formats.scannet import read_scannet1500

    np.savez(tmp_path / "intrinsics.npz", scene0000_00=np.eye(3))
    names = np.zeros((1, 4), np.int64)
    np.savez(tmp_path / "test.npz", name=names, rel_pose=np.zeros((1, 12)))
    assert len(read_scannet1500(tmp_path / "test.npz", tmp_path / "intrinsics.npz")) == 1
    npy_claiming(tmp_path / "rel_pose.npy", (2**36, 12))
    np.save(tmp_path / "name.npy", names)
    with zipfile.ZipFile(tmp_path / "crafted.npz", "w") as archive:
        archive.write(tmp_path / "name.npy", "name.npy")
        archive.write(tmp_path / "rel_pose.npy", "rel_pose.npy")
    with pytest.raises(
        ValueError,
        match=r"crafted.npz: 'rel_pose' claims 824633720832 float32 values \(3298534883328 bytes\) but "
        r"its member holds 192 bytes",
    ):
        read_scannet1500(tmp_path / "crafted.npz", tmp_path / "intrinsics.npz")


# ---------------------------------------------------------------------- item 3: decompression bombs


def test_a_tiny_png_claiming_30000_squared_pixels_is_refused_when_its_header_is_read(tmp_path):
    bomb = tmp_path / "root" / "bomb" / "000.png"
    bomb.parent.mkdir(parents=True)
    png_claiming(bomb, 30000, 30000)
    for read in (image_size, read_image):
        with pytest.raises(ImageReadError, match=r"000.png: refused, the header claims more pixels"):
            read(bomb)
    write_image_folder(tmp_path / "root" / "good", 2)
    with pytest.warns(UserWarning, match=r"skipping scene .*bomb: .*000.png: refused"):
        scenes = build_manifest(tmp_path / "root", tmp_path / "m.json", skip_bad=True)
    assert [scene.name for scene in scenes] == ["good"]
    camera_scene(tmp_path / "cams", 1)
    png_claiming(tmp_path / "cams" / "images" / "000.png", 30000, 30000)
    edit_json(
        tmp_path / "cams" / "transforms.json",
        lambda meta: [frame.pop(key) for frame in meta["frames"] for key in ("w", "h")],
    )
    with pytest.raises(ImageReadError, match="000.png: refused, the header claims more pixels"):
        read_transforms_json(tmp_path / "cams")


# ------------------------------------------------------------------------ item 8: poses not rigid


def _scaled(pose):
    pose = pose.copy()
    pose[:3, :3] *= 1.1
    return pose


def _sheared(pose):
    pose = pose.copy()
    pose[0, 1] += 0.2
    return pose


def _mirrored(pose):
    pose = pose.copy()
    pose[:3, 0] *= -1
    return pose


def _projective(pose):
    pose = pose.copy()
    pose[3, 2] = 0.5
    return pose


BENT = [_scaled, _sheared, _mirrored, _projective]


@pytest.mark.parametrize("bend", BENT, ids=lambda f: f.__name__[1:])
def test_a_transforms_json_pose_that_is_not_rigid_is_refused_naming_the_frame(tmp_path, bend):
    camera_scene(tmp_path / "scene", 3)
    edit_json(
        tmp_path / "scene" / "transforms.json",
        lambda meta: meta["frames"][1].update(
            transform_matrix=bend(np.array(meta["frames"][1]["transform_matrix"])).tolist()
        ),
    )
    with pytest.raises(
        ValueError,
        match=r"transforms.json: frame 1 \(images/001.png\): .*cam_to_world is not a "
        r"rigid motion",
    ):
        read_transforms_json(tmp_path / "scene")


@pytest.mark.parametrize("bend", BENT, ids=lambda f: f.__name__[1:])
def test_a_manifest_pose_that_is_not_rigid_is_refused_naming_scene_and_frame(tmp_path, bend):
    scene = load_scenes(camera_scene(tmp_path / "scene", 3))[0]
    write_manifest([scene_record(scene, "scene", tmp_path)], tmp_path, tmp_path / "m.json")
    edit_json(
        tmp_path / "m.json",
        lambda meta: meta["scenes"][0]["frames"][2].update(
            cam_to_world=bend(np.array(meta["scenes"][0]["frames"][2]["cam_to_world"])).tolist()
        ),
    )
    with pytest.raises(ValueError, match=r"m.json: scene 0 \(scene\), frame 2: .*not a rigid motion"):
        load_manifest(tmp_path / "m.json")


def test_rigidity_has_a_tolerance_for_poses_stored_with_few_digits(tmp_path):
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = np.round(rotation, 4)
    assert Frame("a.png", 8, 8, cam_to_world=pose).cam_to_world is not None
    for bend in BENT:
        with pytest.raises(ValueError, match="not a rigid motion"):
            Frame("a.png", 8, 8, cam_to_world=bend(pose))


# ------------------------------------------------------------------------- item 9: symlink loops


def test_a_symlink_loop_counts_each_scene_once_in_every_walk(tmp_path):
    from muskie.data.formats.dl3dv import find_scenes as dl3dv_scenes

    root = tmp_path / "root"
    write_image_folder(root / "part" / "scene", 2)
    os.symlink(root, root / "part" / "loop")  # root/part/loop/part/loop/... is root again
    os.symlink(root / "part" / "scene", root / "again")  # one scene reached through two paths
    assert len(load_scenes(root)) == 1 and len(build_manifest(root, tmp_path / "m.json")) == 1
    assert get_format("images").find_scenes(root) == ["again"]

    hash_ = "0a1b" * 16
    dl3dv = tmp_path / "dl3dv"
    camera_scene(dl3dv / "1K" / hash_, 2)
    (dl3dv / "1K" / hash_ / "images").rename(dl3dv / "1K" / hash_ / "images_4")
    os.symlink(dl3dv / "1K", dl3dv / "1K" / "loop")
    assert dl3dv_scenes(dl3dv) == [f"1K/{hash_}"]


# -------------------------------------------------------------- item 11: paths leading out of a dataset


@pytest.fixture
def outside(tmp_path):
    """An image and a depth map outside every dataset root of these tests."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(folder / "secret.png")
    Image.fromarray(np.full((8, 8), 1000, np.uint16)).save(folder / "depth.png")
    return folder


@pytest.mark.parametrize(
    "key, value",
    [
        ("file_path", "../elsewhere/secret.png"),
        ("file_path", "../elsewhere/secret"),  # no suffix: the reader tries .png
        ("file_path", "ABSOLUTE/secret.png"),
        ("file_path", "link/secret.png"),  # through a symlink inside the scene
        ("depth_file_path", "../elsewhere/depth.png"),
        ("depth_file_path", "ABSOLUTE/depth.png"),
    ],
)
def test_transforms_json_paths_leading_outside_the_scene_are_refused_unless_allowed(tmp_path, outside, key, value):
    scene = camera_scene(tmp_path / "scene", 2)
    os.symlink(outside, scene / "link")
    value = value.replace("ABSOLUTE", str(outside))
    edit_json(scene / "transforms.json", lambda meta: meta["frames"][1].update({key: value}))
    with pytest.raises(OutsideRootError, match=rf"transforms.json: frame 1 .*{key}: path .* leads outside"):
        read_transforms_json(scene)
    with pytest.raises(OutsideRootError):
        load_scenes(tmp_path / "scene")
    frame = read_transforms_json(scene, allow_outside=True).frames[1]
    read = frame.image_path if key == "file_path" else frame.depth_path
    assert read.resolve().parent == outside.resolve()
    assert len(load_scenes(scene, allow_outside=True)) == 1
    assert "allow_outside" in adapter_options(get_format("transforms_json"))
    again = read_dataset(scene, "transforms_json", allow_outside=True)[0].frames[1]
    assert (again.image_path, again.depth_path) == (frame.image_path, frame.depth_path)


@pytest.mark.parametrize("name", ["../../elsewhere/secret.png", "ABSOLUTE/secret.png", "link/secret.png"])
def test_colmap_image_names_leading_outside_the_image_folder_are_refused_unless_allowed(tmp_path, outside, name):
    scene = tmp_path / "scene"
    write_image_folder(scene / "images", 1, size=(8, 8))
    os.symlink(outside, scene / "images" / "link")
    name = name.replace("ABSOLUTE", str(outside))
    cameras = {1: ColmapCamera(1, "PINHOLE", 8, 8, np.array([10.0, 10.0, 4.0, 4.0]))}
    images = {
        1: ColmapImage(1, np.array([1.0, 0, 0, 0]), np.zeros(3), 1, "000.png"),
        2: ColmapImage(2, np.array([1.0, 0, 0, 0]), np.ones(3), 1, name),
    }
    write_colmap_model(scene / "sparse" / "0", cameras, images)
    with pytest.raises(OutsideRootError, match=r"images.txt: image 2 \(.*secret.png\): path .* leads outside"):
        read_colmap_scene(scene)
    frames = read_colmap_scene(scene, allow_outside=True).frames
    assert {frame.image_path.resolve().parent for frame in frames} == {outside.resolve(), (scene / "images").resolve()}


@pytest.mark.parametrize("field", ["image", "depth", "mask", "path"])
def test_manifest_paths_leading_outside_its_root_are_refused_unless_allowed(tmp_path, outside, field):
    scene = load_scenes(camera_scene(tmp_path / "root" / "scene", 2, depth=True))[0]
    write_manifest([scene_record(scene, "scene", tmp_path / "root")], tmp_path / "root", tmp_path / "m.json")
    target = {
        "image": "../elsewhere/secret.png",
        "depth": "../elsewhere/depth.png",
        "mask": str(outside / "secret.png"),
        "path": "../elsewhere",
    }[field]

    def change(meta):
        record = meta["scenes"][0]
        (record if field == "path" else record["frames"][1])[field] = target

    edit_json(tmp_path / "m.json", change)
    with pytest.raises(OutsideRootError, match=rf"m.json: scene 0 \(scene\).*: {field}: path .* leads outside"):
        load_manifest(tmp_path / "m.json")
    with pytest.raises(OutsideRootError):
        load_scenes(tmp_path / "m.json")
    assert len(load_manifest(tmp_path / "m.json", allow_outside=True)[0]) == 2
    entry = DatasetSourceConfig(path=str(tmp_path / "m.json"), options={"allow_outside": True})
    entry.validate("data.sources[0]")
    assert len(open_source(entry).scenes) == 1
    with pytest.raises(ValueError, match="leads outside"):
        open_source(DatasetSourceConfig(path=str(tmp_path / "m.json")))


# ------------------------------------------------------------------------------------------ classes


def test_validation_scores_its_held_out_samples_and_never_replaces_a_bad_one(tmp_path):
    camera_scene(tmp_path / "val" / "a", 3)
    camera_scene(tmp_path / "val" / "b", 3)
    truncated = tmp_path / "val" / "a" / "images" / "001.png"
    truncated.write_bytes(truncated.read_bytes()[:-30])  # the json gives the size: the scene loads
    config = SceneSourceConfig(source=str(tmp_path / "val"), val_source=str(tmp_path / "val"))
    assert config.open("train")[ViewRequest(0, 3, 8, 8, seed=0)]["scene"] == "b"  # training replaces it
    with pytest.raises(ImageReadError, match="001.png: cannot decode image"):
        config.open("val")[ViewRequest(0, 3, 8, 8, seed=0)]


def test_pretrain_whose_metrics_fill_the_disk_says_no_space_left_on_the_run_folder(tmp_path, capsys):
    from fixtures import small_filesystem

    tiny = [
        "--preset",
        "tiny",
        "--set",
        "model_overrides={embed_dim: 8, depth: 1, num_heads: 1, patch_size: 8}",
        "--set",
        "data.resolutions=[[[8, 8]]]",
        "--set",
        "data.max_views=2",
        "--set",
        "data.batch_size=1",
        "--set",
        "data.workers=0",
        "--set",
        "data.synthetic_scenes=4",
        "--set",
        "checkpoint_every=100000",
        "--set",
        "log_every=1",
        "--steps",
        100000,
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--no-progress",
    ]
    with small_filesystem(tmp_path / "disk", size="64k") as disk:  # fills long before the only checkpoint
        code, err = run_cli(["pretrain", *tiny, "--out", disk / "run"], capsys)
        assert code == 2 and "Traceback" not in err, err
        assert (
            err.strip()
            .splitlines()[-1]
            .startswith(
                f"muskie pretrain: error: no space left on {disk / 'run'}: metrics.jsonl or tensorboard/ could not be "
                "written; the run stopped"
            )
        ), err


def test_an_evaluation_report_on_a_full_disk_names_the_folder(tmp_path):
    from fixtures import small_filesystem

    with small_filesystem(tmp_path / "disk", size="64k") as disk:
        with pytest.raises(
            OSError,
            match=rf"no space left on {disk / 'eval'}: table.md and table.json were not "
            "both written",
        ):
            write_report(disk / "eval", "table", "x" * 100_000, {})


@pytest.mark.parametrize("compression", ["gzip", None])
def test_an_hdf5_depth_claiming_terabytes_is_refused_before_it_is_read(tmp_path, compression):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "depth.h5"
    with h5py.File(path, "w") as handle:  # chunks never written: read as the fill value, allocated in full
        handle.create_dataset("depth", shape=(2**20, 2**20), dtype="f4", chunks=(64, 64), compression=compression)
    assert path.stat().st_size < 10_000
    with pytest.raises(ImageReadError, match=r"depth.h5: dataset 'depth' claims shape \(1048576, 1048576\)"):
        read_depth(path)
