import numpy as np
import pytest
import torch

from muskie.data.sources import read_transforms_json
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import ViewRequest
from muskie.geometry import intrinsics_from_fov, unproject_depth
from muskie.model import MuskieBackbone
from muskie.model.config import preset_config
from muskie.recon.config import ReconModelConfig
from muskie.recon.model import ReconModel
from muskie.recon.ply import read_ply, write_ply
from muskie.recon.predict import default_size, estimate_intrinsics, predict_folder
from muskie.recon.render import render_point_cloud


def test_ply_round_trip_and_header(tmp_path):
    g = np.random.default_rng(0)
    points = g.normal(size=(17, 3)).astype(np.float32)
    colors = g.integers(0, 256, size=(17, 3)).astype(np.uint8)
    path = write_ply(tmp_path / "cloud.ply", points, colors)
    header = path.read_bytes().split(b"end_header\n")[0].decode()
    assert header.startswith("ply\nformat binary_little_endian 1.0\n") and "element vertex 17\n" in header
    back_points, back_colors, back_confidence = read_ply(path)
    np.testing.assert_array_equal(back_points, points)
    np.testing.assert_array_equal(back_colors, colors)
    assert back_confidence is None
    write_ply(tmp_path / "float.ply", points, np.full((17, 3), 0.5))
    assert (read_ply(tmp_path / "float.ply")[1] == 128).all()
    with pytest.raises(ValueError, match="non-finite"):
        write_ply(tmp_path / "bad.ply", np.full((2, 3), np.nan), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="colors"):
        write_ply(tmp_path / "bad.ply", points, colors[:3])


def test_ply_carries_a_confidence_property(tmp_path):
    g = np.random.default_rng(0)
    points = g.normal(size=(9, 3)).astype(np.float32)
    colors = g.integers(0, 256, size=(9, 3)).astype(np.uint8)
    confidence = g.uniform(size=9).astype(np.float32)
    path = write_ply(tmp_path / "cloud.ply", points, colors, confidence)
    header, body = path.read_bytes().split(b"end_header\n")
    assert header.decode().endswith("property uchar blue\nproperty float confidence\n")
    assert len(body) == 9 * 19, "x y z float, r g b uchar, confidence float, no padding"
    # parsed by hand: the last 4 bytes of each 19-byte vertex are its confidence
    by_hand = np.frombuffer(b"".join(body[19 * i + 15 : 19 * i + 19] for i in range(9)), dtype="<f4")
    np.testing.assert_array_equal(by_hand, confidence)
    cloud = read_ply(path)
    np.testing.assert_array_equal(cloud.points, points)
    np.testing.assert_array_equal(cloud.colors, colors)
    np.testing.assert_array_equal(cloud.confidence, confidence)
    with pytest.raises(ValueError, match="confidence must have shape"):
        write_ply(tmp_path / "bad.ply", points, colors, confidence[:3])
    (tmp_path / "other.ply").write_bytes(path.read_bytes().replace(b"float confidence", b"float intensity"))
    with pytest.raises(ValueError, match="not write_ply's"):
        read_ply(tmp_path / "other.ply")


def test_intrinsics_are_recovered_from_exact_local_points():
    K = intrinsics_from_fov(torch.tensor([50.0, 70.0]), 12, 16, dtype=torch.float64)
    depth = 1.0 + torch.rand(2, 12, 16, dtype=torch.float64)
    local = unproject_depth(depth, K, torch.eye(4, dtype=torch.float64))
    torch.testing.assert_close(estimate_intrinsics(local), K)
    # a pointmap no pinhole camera explains (x against the image axis) falls back to a 53-degree view
    flipped = local * torch.tensor([-1.0, -1.0, 1.0], dtype=torch.float64)
    assert float(estimate_intrinsics(flipped)[0, 0, 0]) == 16.0


def test_default_size_keeps_the_aspect_ratio_in_whole_patches():
    assert default_size((480, 640), 8, 64) == (48, 64)
    assert default_size((384, 384), 16, 224) == (224, 224)
    assert default_size((10, 1000), 8, 64) == (8, 64)


def test_render_draws_points_nearest_first_and_cameras():
    ds = SyntheticViewDataset("test", SyntheticConfig(camera_path="orbit"), num_scenes=1)
    sample = ds[ViewRequest(0, 3, 16, 16, 0)]
    points = unproject_depth(sample["depth"], sample["intrinsics"], sample["cam_to_world"])[sample["valid"]]
    colors = ((sample["images"] + 1) / 2).permute(0, 2, 3, 1)[sample["valid"]]
    image = render_point_cloud(
        points.numpy(),
        colors.numpy(),
        sample["cam_to_world"].numpy(),
        sample["intrinsics"].numpy(),
        (16, 16),
        size=(60, 80),
    )
    pixels = np.asarray(image)
    assert image.size == (80, 60)
    assert (pixels != pixels[0, 0]).any(axis=-1).mean() > 0.2, "the cloud covers a good part of the picture"
    assert ((pixels == [255, 51, 51]).all(-1)).any(), "view 0's frustum is drawn in red"


def test_predict_folder_writes_cameras_cloud_and_picture(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    g = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(g.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    torch.manual_seed(0)
    backbone = MuskieBackbone(preset_config("tiny", embed_dim=32, depth=2, num_heads=2))
    model = ReconModel(backbone, ReconModelConfig(dpt_dim=16, camera_dim=16))
    paths = predict_folder(model, folder, tmp_path / "out", long_side=32)
    scene = read_transforms_json(paths["transforms"])
    assert [f.image_path.stem for f in scene.frames] == ["img0", "img1", "img2"]
    assert (scene.frames[0].width, scene.frames[0].height) == (32, 24)
    np.testing.assert_allclose(scene.frames[0].cam_to_world, np.eye(4), atol=1e-6)
    points = read_ply(paths["ply"]).points
    assert points.shape == (3 * 24 * 32, 3)
    assert Image.open(paths["render"]).size == (640, 480)
    with pytest.raises(ValueError, match="patch size"):
        predict_folder(model, folder, tmp_path / "out2", size=(20, 32))
    with pytest.raises(FileNotFoundError):
        predict_folder(model, tmp_path / "missing", tmp_path / "out3")


def test_predict_never_writes_into_its_input_nor_over_earlier_results(tmp_path):
    from PIL import Image

    scene = tmp_path / "scene"
    (scene / "images").mkdir(parents=True)
    g = np.random.default_rng(1)
    for i in range(2):
        Image.fromarray(g.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)).save(scene / "images" / f"img{i}.png")
    (scene / "transforms.json").write_text("{}")
    before = {p: p.read_bytes() for p in scene.rglob("*") if p.is_file()}
    torch.manual_seed(0)
    model = ReconModel(
        MuskieBackbone(preset_config("tiny", embed_dim=32, depth=2, num_heads=2)),
        ReconModelConfig(dpt_dim=16, camera_dim=16),
    )
    for images, out in (
        (scene, scene),
        (scene / "images", scene),
        (scene, scene / "images" / "pred"),
        (scene / "images", scene / "images"),
    ):
        with pytest.raises(ValueError, match=f"{out}: --out would write into the input"):
            predict_folder(model, images, out, long_side=16)
    assert {p: p.read_bytes() for p in scene.rglob("*") if p.is_file()} == before, "the input is untouched"
    out = tmp_path / "pred"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=f"{out}: --out is not empty; .* --overwrite"):
        predict_folder(model, scene, out, long_side=16)
    assert (out / "notes.txt").read_text() == "mine"
    paths = predict_folder(model, scene, out, long_side=16, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "confidence",
        "depth",
        "images",
        "points.ply",
        "render.png",
        "sparse",
        "transforms.json",
        "viewer.html",
    ]
    assert all(path.exists() and path.is_relative_to(out) for path in paths.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred", "scene"], "no temporary folder left"


def test_predict_folder_writes_depth_confidence_and_a_colmap_model_that_agree(tmp_path):
    import json

    from PIL import Image

    from muskie.data.depth_codecs import read_depth
    from muskie.data.sources.colmap import read_colmap_model, read_colmap_scene
    from muskie.geometry import invert_pose, transform_points

    folder = tmp_path / "images"
    folder.mkdir()
    g = np.random.default_rng(2)
    for i in range(3):
        Image.fromarray(g.integers(0, 256, size=(16, 24, 3), dtype=np.uint8)).save(folder / f"f{i}.png")
    torch.manual_seed(0)
    model = ReconModel(
        MuskieBackbone(preset_config("tiny", embed_dim=32, depth=2, num_heads=2, patch_size=8)),
        ReconModelConfig(dpt_dim=16, camera_dim=16),
    )
    out = tmp_path / "out"
    predict_folder(model, folder, out, long_side=24)
    scene = read_transforms_json(out)
    scale = json.loads((out / "depth" / "scale.json").read_text())["depth_png_scale"]
    cloud = read_ply(out / "points.ply")
    depths, confidences = [], []
    for view, frame in enumerate(scene.frames):
        depth = np.load(out / "depth" / f"f{view}.npy")
        assert depth.dtype == np.float32 and depth.shape == (16, 24)
        assert frame.depth_scale == scale and frame.depth_path == out / "depth" / f"f{view}.png"
        assert np.asarray(Image.open(frame.depth_path)).dtype == np.uint16
        stored = read_depth(frame.depth_path, frame.depth_scale)
        np.testing.assert_allclose(stored, depth, atol=scale / 2 * 1.001, rtol=0)
        confidence = np.load(out / "confidence" / f"f{view}.npy")
        picture = np.asarray(Image.open(out / "confidence" / f"f{view}.png"))
        np.testing.assert_array_equal(picture, np.round(confidence.astype(np.float64) * 255))
        depths.append(depth)
        confidences.append(confidence)
    assert max(float(d.max()) for d in depths) == pytest.approx(65535 * scale, rel=1e-6), "the largest is 65535"
    # every pixel is in the cloud, in pixel order: its confidence, and its z in its camera is the depth map's
    np.testing.assert_array_equal(cloud.confidence, np.concatenate([c.reshape(-1) for c in confidences]))
    for view, frame in enumerate(scene.frames):
        world = cloud.points[view * 384 : (view + 1) * 384].astype(np.float64)
        in_camera = transform_points(invert_pose(frame.cam_to_world), world)
        np.testing.assert_allclose(in_camera[:, 2], depths[view].reshape(-1), rtol=1e-4, atol=1e-5)
    colmap = read_colmap_scene(out)
    for frame, colmap_frame in zip(scene.frames, colmap.frames, strict=True):
        assert colmap_frame.image_path == frame.image_path and colmap_frame.image_path.is_file()
        np.testing.assert_allclose(colmap_frame.intrinsics, frame.intrinsics, atol=1e-9)
        # the quaternion makes the float32 rotation exactly orthonormal: equal to float32 precision
        np.testing.assert_allclose(colmap_frame.cam_to_world, frame.cam_to_world, atol=2e-6)
    assert len(read_colmap_model(out / "sparse" / "0")[2]) == 3 * 384
    threshold = float(np.median(cloud.confidence))
    predict_folder(model, folder, tmp_path / "confident", long_side=24, min_confidence=threshold)
    kept = int((cloud.confidence >= threshold).sum())
    assert len(read_ply(tmp_path / "confident" / "points.ply").points) == kept
    assert len(read_colmap_model(tmp_path / "confident" / "sparse" / "0")[2]) == kept
