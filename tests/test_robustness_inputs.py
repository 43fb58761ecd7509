"""Bad input end to end: odd images, broken scene files, odd view counts, foreign or broken checkpoints, bad
configs and bad command lines. Each case ends in a clear error naming the file or argument, or in a logged
skip during training. Cases already covered elsewhere are listed in ``docs/reliability.md``."""

import json
import logging
import struct
import zlib

import numpy as np
import pytest
import torch
from cli_runner import run_cli
from PIL import Image

from muskie.data.imageio import read_image
from muskie.data.sources import load_scene, read_colmap_scene, read_transforms_json, write_transforms_json
from muskie.data.synthetic import SyntheticConfig, write_synthetic_scenes
from muskie.data.views import MultiViewDataset, ViewRequest
from muskie.loading import load_model
from muskie.model import Muskie, MuskieConfig
from muskie.pretraining import load_pretrain_config, pretrain

TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "patch_size": 8}
TINY_RUN = [
    "--set",
    "model_overrides={embed_dim: 32, depth: 1, num_heads: 2, patch_size: 8}",
    "--set",
    "data.resolutions=[[[32, 32]]]",
    "--set",
    "data.batch_size=2",
    "--set",
    "data.workers=0",
    "--set",
    "data.min_views=3",
    "--set",
    "data.max_views=3",
    "--set",
    "optim.warmup_steps=1",
    "--preset",
    "tiny",
    "--precision",
    "fp32",
    "--device",
    "cpu",
    "--no-progress",
    "--steps",
    "2",
]


def png_16bit_rgb(path, pixels: np.ndarray) -> None:
    """Write ``pixels (H, W, 3)`` uint16 as a 16-bit-per-channel RGB PNG (Pillow cannot write these)."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def flat_scene(path, num_frames, height=6, width=8):
    """A transforms.json scene of flat grey frames with cameras (fx = fy = 10, centred principal point)."""
    images = torch.full((num_frames, 3, height, width), 0.5)
    intrinsics = np.tile(
        np.array([[10.0, 0, (width - 1) / 2], [0, 10.0, (height - 1) / 2], [0, 0, 1]]), (num_frames, 1, 1)
    )
    write_transforms_json(path, images, intrinsics, np.tile(np.eye(4), (num_frames, 1, 1)))
    return path


# ------------------------------------------------------------------------------------------------ images


def test_16bit_rgb_png_reads_its_high_bytes(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65536, (3, 4, 3)).astype(np.uint16)
    png_16bit_rgb(tmp_path / "rgb16.png", pixels)
    image = read_image(tmp_path / "rgb16.png")
    assert image.shape == (3, 3, 4) and image.dtype == torch.float32
    np.testing.assert_allclose(image.numpy(), (pixels >> 8).transpose(2, 0, 1) / 255.0, atol=1e-6)


def test_exif_rotated_jpeg_scene_is_read_upright_by_the_dataset(tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    for index in range(2):
        image = Image.fromarray(np.full((16, 24, 3), 100 * index, dtype=np.uint8))
        exif = image.getexif()
        exif[0x0112] = 6  # stored landscape, shown portrait
        image.save(folder / f"{index}.jpg", exif=exif)
    scene = load_scene(folder)
    assert (scene.frames[0].width, scene.frames[0].height) == (16, 24)
    sample = MultiViewDataset([scene], skip_bad=False)[ViewRequest(0, 2, 24, 16, seed=0)]
    assert sample["images"].shape == (2, 3, 24, 16)


def test_images_smaller_than_the_output_are_upsampled_with_their_intrinsics(tmp_path):
    scene = read_transforms_json(flat_scene(tmp_path / "small", 2, height=6, width=8))
    sample = MultiViewDataset([scene], crop_scale=(1.0, 1.0), skip_bad=False)[ViewRequest(0, 2, 32, 32, seed=0)]
    assert sample["images"].shape == (2, 3, 32, 32)
    torch.testing.assert_close(sample["images"], torch.zeros(2, 3, 32, 32), atol=2 / 255, rtol=0)
    # the largest square crop of an 8x6 image is 6x6, scaled by 32/6
    torch.testing.assert_close(sample["intrinsics"][:, 0, 0], torch.full((2,), 10 * 32 / 6), rtol=1e-6, atol=0)


def test_a_scene_with_one_frame(tmp_path):
    scene = read_transforms_json(flat_scene(tmp_path / "single", 1))
    dataset = MultiViewDataset([scene], skip_bad=False)
    assert dataset[ViewRequest(0, 1, 8, 8, seed=0)]["images"].shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="scene single .* has 1 frames, fewer than the 2 views"):
        dataset[ViewRequest(0, 2, 8, 8, seed=0)]


def test_training_on_a_one_frame_scene_is_refused_at_start(tmp_path, capsys):
    flat_scene(tmp_path / "single", 1)
    code, err = run_cli(["pretrain", "--data", tmp_path / "single", "--out", tmp_path / "run", *TINY_RUN], capsys)
    assert code == 2
    assert f"{tmp_path / 'single'}: its longest scene has 1 frame(s), fewer than data.max_views = 3" in err


def test_training_skips_corrupt_images_and_logs_a_running_count(tmp_path, caplog):
    write_synthetic_scenes(
        tmp_path / "data", 3, config=SyntheticConfig(camera_path="orbit", num_frames=4), height=32, width=32
    )
    images = sorted((tmp_path / "data").glob("*/images/*.png"))
    images[0].write_bytes(b"")  # zero bytes
    images[5].write_bytes(images[5].read_bytes()[:100])  # truncated
    images[9].write_bytes(b"not a png at all" * 8)  # corrupt
    config = load_pretrain_config(
        None,
        [
            {
                "model": "tiny",
                "model_overrides": TINY,
                "precision": "fp32",
                "device": "cpu",
                "steps": 3,
                "data": {
                    "source": str(tmp_path / "data"),
                    "resolutions": [[[32, 32]]],
                    "batch_size": 3,
                    "workers": 0,
                    "min_views": 3,
                    "max_views": 3,
                },
                "out_dir": str(tmp_path / "run"),
            }
        ],
    )
    with caplog.at_level(logging.WARNING, logger="muskie.data.views"):
        result = pretrain(config, progress=False)
    assert result.step == 3 and all(np.isfinite(result.losses))
    skips = [r.getMessage() for r in caplog.records if "skipped bad sample" in r.getMessage()]
    assert skips and "1 skipped so far" in skips[0] and f"{len(skips)} skipped so far" in skips[-1]
    assert any(image.name in message for message in skips for image in (images[0], images[5], images[9]))


# ------------------------------------------------------------------------------------------ scene files


@pytest.mark.parametrize(
    "meta, message",
    [
        (
            '{"fl_x": 10, "w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": '
            "[[NaN, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]}]}",
            "'transform_matrix' must be a finite",
        ),
        (
            '{"fl_x": NaN, "w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": '
            "[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]}]}",
            "'fl_x' must be a finite number, got nan",
        ),
        (
            {"w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}]},
            "missing 'fl_x'",
        ),
        (
            {
                "camera_angle_x": 0,
                "w": 4,
                "h": 4,
                "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}],
            },
            "'camera_angle_x' must be a field of view in",
        ),
        (
            {"fl_x": -10, "w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}]},
            "positive focal lengths",
        ),
        (
            {
                "fl_x": 10,
                "w": 10**400,
                "h": 4,
                "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}],
            },
            "'w' must be a finite number",
        ),
        (
            {"fl_x": 10, "w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": [[10**400] * 4] * 4}]},
            "not a numeric matrix",
        ),
        ({"fl_x": 10, "w": 4, "h": 4, "frames": [{"file_path": "a.png"}]}, "missing 'transform_matrix'"),
        ({"fl_x": 10, "w": 4, "h": 4}, "expected an object with a 'frames' list"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_broken_transforms_json_names_the_file(tmp_path, meta, message):
    path = tmp_path / "transforms.json"
    path.write_text(meta if isinstance(meta, str) else json.dumps(meta))
    with pytest.raises(ValueError, match=message) as info:
        read_transforms_json(tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "file, text, message",
    [
        ("cameras.txt", "1 PINHOLE 8 8 10 10", r"cameras.txt: line 1: model PINHOLE takes 4"),
        ("cameras.txt", "1 PINH", r"cameras.txt: line 1: malformed camera line"),
        ("images.txt", "1 1 0 0 0 0 0 0 1 a.png\n\n2 1 0 0 0 0", r"images.txt: line 3: malformed image line"),
        ("images.txt", "1 1 0 0 0 0 0 0 1 a.png\n1.0 2.0 -1 3.0", r"images.txt: line 2: keypoint line"),
        ("images.txt", "1 0 0 0 0 0 0 0 1 a.png\n\n", r"images.txt: image 1 \(a.png\): quaternion"),
        ("cameras.txt", "1 PINHOLE 8 8 0 10 4 4\n", r"images.txt: image 1 \(a.png\): .*positive focal lengths"),
        ("cameras.txt", "", r"images.txt: image 1 \(a.png\): camera 1 is not in cameras.txt"),
    ],
)
def test_truncated_or_broken_colmap_text_names_file_and_line(tmp_path, file, text, message):
    (tmp_path / "cameras.txt").write_text("1 PINHOLE 8 8 10 10 4 4\n")
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
    (tmp_path / file).write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        read_colmap_scene(tmp_path)
    assert str(tmp_path) in str(info.value)


# ---------------------------------------------------------------------------------------------- the model


@pytest.mark.parametrize("num_views", [1, 64])
def test_one_and_64_views_through_the_model(num_views):
    torch.manual_seed(0)
    model = Muskie(MuskieConfig(**TINY)).eval()
    images = torch.rand(1, num_views, 3, 16, 8) * 2 - 1
    mask = torch.zeros(1, num_views, 2, 1, dtype=torch.bool)
    mask[:, :, 0] = True
    with torch.no_grad():
        out = model(images, mask)
    assert out.pred.shape == out.confidence.shape == (1, num_views, 2, 3 * 8 * 8)
    assert torch.isfinite(out.pred).all() and torch.isfinite(out.confidence).all()
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        model(torch.zeros(1, num_views, 3, 12, 8))


# --------------------------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A one-step tiny pre-training run (checkpoint-last.pt, no exported model)."""
    out = tmp_path_factory.mktemp("run")
    config = load_pretrain_config(
        None,
        [
            {
                "model": "tiny",
                "model_overrides": TINY,
                "precision": "fp32",
                "device": "cpu",
                "steps": 2,
                "data": {
                    "resolutions": [[[32, 32]]],
                    "batch_size": 2,
                    "workers": 0,
                    "min_views": 3,
                    "max_views": 3,
                    "synthetic_scenes": 4,
                },
                "out_dir": str(out),
            }
        ],
    )
    pretrain(config, stop_at_step=1, progress=False)
    return out


def test_load_model_reads_the_architecture_a_training_checkpoint_carries(run_dir):
    model = load_model(run_dir / "checkpoint-last.pt")
    assert (model.config.embed_dim, model.config.depth, model.config.patch_size) == (32, 1, 8)


def test_truncated_training_checkpoint_for_load_model_and_resume(run_dir, tmp_path, capsys):
    data = (run_dir / "checkpoint-last.pt").read_bytes()
    (tmp_path / "run").mkdir()
    cut = tmp_path / "run" / "checkpoint-last.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"{cut}: cannot read the checkpoint"):
        load_model(cut)
    code, err = run_cli(["pretrain", "--out", tmp_path / "run", *TINY_RUN], capsys)
    assert code == 2 and f"{cut}: not a readable checkpoint" in err


def test_resuming_with_another_preset_is_refused(run_dir, capsys):
    before = (run_dir / "checkpoint-last.pt").read_bytes()
    code, err = run_cli(["pretrain", "--out", run_dir, *TINY_RUN, "--preset", "small"], capsys)
    assert code == 2
    assert (
        f"{run_dir / 'checkpoint-last.pt'}: cannot resume, the config differs from the checkpoint's in ['model', "
        in err
    )
    assert (run_dir / "checkpoint-last.pt").read_bytes() == before


def test_truncated_exported_weights_for_load_model(tmp_path):
    Muskie(MuskieConfig(embed_dim=128, depth=1, num_heads=4, patch_size=8)).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])
    with pytest.raises(ValueError, match=f"{weights}: cannot read safetensors weights"):
        load_model(tmp_path / "m")


# ---------------------------------------------------------------------------------- configs and commands


@pytest.fixture
def files(tmp_path):
    """Paths the command-line cases refer to by name."""
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "unknown.yaml").write_text("stepz: 3\n")
    (tmp_path / "wrong_type.yaml").write_text("optim:\n  lr: fast\n")
    (tmp_path / "broken.yaml").write_text("optim: [lr: 1\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 truncated")
    Muskie(MuskieConfig(embed_dim=128, depth=1, num_heads=4, patch_size=8)).save_pretrained(tmp_path / "model")
    write_synthetic_scenes(tmp_path, 1, config=SyntheticConfig(num_frames=3), height=8, width=8)
    (tmp_path / "synthetic-train-000000").rename(tmp_path / "scene")
    write_synthetic_scenes(tmp_path, 1, config=SyntheticConfig(num_frames=3), height=8, width=8)
    (tmp_path / "synthetic-train-000000").rename(tmp_path / "bad_scene")
    (tmp_path / "bad_scene" / "images" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    return tmp_path


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["synth", "--out", "{a_file}", "--scenes", 1, "--frames", 2, "--height", 8, "--width", 8],
            "{a_file}: exists and is not a folder",
        ),
        (["synth", "--out", "{tmp}/s", "--scenes", 0], "need num_scenes >= 1"),
        (
            ["synth", "--out", "{tmp}/s", "--scenes", 1, "--height", 0],
            "argument --height: an image side must be in 1..",
        ),
        (["synth", "--out", "{tmp}/s", "--scenes", 1, "--frames", 0], "num_frames must be positive"),
        (["synth", "--out", "{tmp}/s", "--scenes", "two"], "argument --scenes: invalid int value: 'two'"),
        (["synth", "--out", "{tmp}/s", "--scenes", 1, "--split", "holdout"], "argument --split: invalid choice"),
        (["synth", "--scenes", 1], "the following arguments are required: --out"),
        (["pretrain", "--out", "{a_file}"], "{a_file}: out_dir exists and is not a folder"),
        (["pretrain", "--out", "{tmp}/p", "--device", "tpu"], "device 'tpu' is not a device name"),
        (["pretrain", "--steps", -3], "steps must be >= 1, got -3"),
        (["pretrain", "--threads", 0], "--threads must be >= 1"),
        (["pretrain", "--precision", "fp8"], "argument --precision: invalid choice"),
        (
            ["pretrain", "--set", "data.resolutions=[[[30, 30]]]"],
            "data.resolutions: [30, 30] is not a multiple of the model's patch size 16",
        ),
        (["pretrain", "--set", "data.resolutions=224"], "config.data.resolutions: expected a list"),
        (["pretrain", "--set", "data.crop_scale=[0, 1]"], "data.crop_scale must satisfy 0 < low <= high <= 1"),
        (["pretrain", "--set", "data.window=0"], "data.window must be >= 1"),
        (["pretrain", "--set", "data.batch_size=2.5"], "config.data.batch_size: expected an integer"),
        (["pretrain", "--set", "model=gigantic"], "unknown preset 'gigantic'"),
        (["pretrain", "--set", "model_overrides={depth: 0}"], "model / model_overrides: MuskieConfig.depth must be"),
        (["pretrain", "--set", "model_overrides={width: 3}"], "unknown MuskieConfig fields: width"),
        (["pretrain", "--set", "optim.lr=-1"], "need optim.lr > 0"),
        (["pretrain", "--set", "optim.betas=[0.9, 1.5]"], "optim.betas must lie in [0, 1)"),
        (["pretrain", "--set", "steps"], "must look like key.subkey=value"),
        (["pretrain", "--recipe", "{tmp}/unknown.yaml"], "{tmp}/unknown.yaml: unknown key(s) ['stepz']"),
        (["pretrain", "--recipe", "{tmp}/wrong_type.yaml"], "{tmp}/wrong_type.yaml.optim.lr: expected a number"),
        (["pretrain", "--recipe", "{tmp}/broken.yaml"], "{tmp}/broken.yaml: not valid YAML"),
        (["pretrain", "--recipe", "{tmp}/list.yaml"], "{tmp}/list.yaml: expected a mapping at the top level"),
        (["pretrain", "--recipe", "{tmp}/missing.yaml"], "{tmp}/missing.yaml: config file not found"),
        (
            ["eval", "masked-views", "--checkpoint", "{tmp}/cut.pth", "--out", "{tmp}/r"],
            "{tmp}/cut.pth: cannot read the checkpoint",
        ),
        (
            ["eval", "masked-views", "--checkpoint", "{tmp}/model", "--out", "{tmp}/r", "--size", 30, 30],
            "--size 30 30 is not a multiple of the model's patch size 8",
        ),
        (
            ["eval", "masked-views", "--checkpoint", "{tmp}/model", "--out", "{tmp}/r", "--device", "tpu"],
            "device 'tpu'",
        ),
        (
            ["eval", "masked-views", "--checkpoint", "{tmp}/model", "--out", "{tmp}/r", "--device", "cuda:0"],
            "CUDA is not available",
        ),
        (
            ["eval", "masked-views", "--checkpoint", "{tmp}/model", "--out", "{tmp}/r", "--scenes", "{tmp}/none"],
            "{tmp}/none: no such file or directory",
        ),
        (
            ["eval", "masked-views", "--checkpoint", "{tmp}/model", "--out", "{tmp}/r", "--samples", 0],
            "--samples and --batch-size",
        ),
        (["eval", "masked-views", "--checkpoint", "{tmp}/model"], "the following arguments are required: --out"),
        (["info", "--size", 0, 0], "argument --size: an image side must be in 1..8192 pixels, got 0"),
        (["info", "--views", 0], "num_views must be at least 1"),
        (["info", "--size", 224], "argument --size: expected 2 arguments"),
        (["info", "--preset", "gigantic"], "argument --preset: invalid choice"),
        (["train"], "argument COMMAND: invalid choice: 'train'"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(argv, message, files, capsys):
    def fill(text):
        return str(text).replace("{tmp}", str(files)).replace("{a_file}", str(files / "a_file"))

    code, err = run_cli([fill(arg) for arg in argv], capsys)
    assert code == 2
    assert fill(message) in err


# Issue 14's classes: each exits 2 with one line (argparse: its usage, then one error line), no traceback.
@pytest.mark.parametrize(
    "argv, message",
    [
        # a malformed --set value is a YAML error
        (["pretrain", "--set", "optim.lr=[1,"], "override 'optim.lr=[1,': not valid YAML"),
        (["pretrain", "--set", "model_overrides={rope_base: .nan}"], "MuskieConfig.rope_base: expected a finite"),
        (["pretrain", "--set", "model_overrides={cross_view: 'no'}"], "MuskieConfig.cross_view: expected true or"),
        # --views larger than the scene; an unreadable image is named, never silently replaced
        (
            [
                "eval",
                "masked-views",
                "--checkpoint",
                "{tmp}/model",
                "--scenes",
                "{tmp}/scene",
                "--views",
                5,
                "--refs",
                1,
                "--size",
                8,
                8,
                "--out",
                "{tmp}/r",
            ],
            "has 3 frames, fewer than the 5 views asked for",
        ),
        (
            [
                "eval",
                "masked-views",
                "--checkpoint",
                "{tmp}/model",
                "--scenes",
                "{tmp}/bad_scene",
                "--views",
                2,
                "--refs",
                1,
                "--samples",
                4,
                "--size",
                8,
                8,
                "--out",
                "{tmp}/r",
            ],
            "{tmp}/bad_scene/images/001.png",
        ),
        # devices muskie does not run on, or this machine lacks
        (
            ["eval", "masked-views", "--checkpoint", "{tmp}/model", "--out", "{tmp}/r", "--device", "meta"],
            "muskie runs on cpu, cuda, cuda:N or mps, not on 'meta'",
        ),
        (["pretrain", "--device", "meta", "--out", "{tmp}/p"], "not on 'meta'"),
        (
            [
                "recon",
                "predict",
                "--checkpoint",
                "{tmp}/model",
                "--images",
                "{tmp}/scene",
                "--out",
                "{tmp}/r",
                "--device",
                "meta",
            ],
            "not on 'meta'",
        ),
        # image sizes of 0 or beyond any machine
        (
            [
                "recon",
                "predict",
                "--checkpoint",
                "{tmp}/model",
                "--images",
                "{tmp}/scene",
                "--out",
                "{tmp}/r",
                "--size",
                0,
                0,
            ],
            "argument --size: an image side must be in 1..8192 pixels, got 0",
        ),
        (
            ["eval", "correspondence", "--backbone", "identity", "--size", 100000, 100000, "--out", "{tmp}/r"],
            "argument --size: an image side must be in 1..8192 pixels, got 100000",
        ),
        (["synth", "--out", "{tmp}/s", "--scenes", 1, "--height", 100000], "argument --height: an image side"),
        (["info", "--size", 1000000, 1000000], "argument --size: an image side"),
        # non-finite numbers
        (
            ["eval", "correspondence", "--backbone", "identity", "--temperature", "nan", "--out", "{tmp}/r"],
            "argument --temperature: expected a finite number, got 'nan'",
        ),
        (
            ["eval", "correspondence", "--backbone", "identity", "--tolerance", "nan", "--out", "{tmp}/r"],
            "argument --tolerance: expected a finite number",
        ),
        (["eval", "probe", "--backbone", "identity", "--lr", "inf", "--out", "{tmp}/r"], "argument --lr: expected a"),
        (["pretrain", "--max-minutes", "nan"], "argument --max-minutes: expected a finite number"),
        # empty paths (an unset shell variable): none may mean the current folder
        (["eval", "masked-views", "--checkpoint", "{tmp}/model", "--out", ""], "argument --out: empty path"),
        (["eval", "masked-views", "--checkpoint", "", "--out", "{tmp}/r"], "argument --checkpoint: empty path"),
        (
            ["eval", "correspondence", "--backbone", "identity", "--scenes", "", "--out", "{tmp}/r"],
            "argument --scenes: empty path",
        ),
        (["eval", "probe", "--backbone", "identity", "--out", ""], "argument --out: empty path"),
        (["pca", "--backbone", "identity", "--out", ""], "argument --out: empty path"),
        (
            ["recon", "predict", "--checkpoint", "{tmp}/model", "--images", "", "--out", "{tmp}/r"],
            "argument --images: empty path",
        ),
        (
            ["recon", "eval", "--checkpoint", "{tmp}/model", "--scenes", "", "--out", "{tmp}/r"],
            "argument --scenes: empty path",
        ),
        (["recon", "train", "--data", ""], "argument --data: empty path"),
        (["synth", "--out", "", "--scenes", 1], "argument --out: empty path"),
        (["pretrain", "--data", ""], "argument --data: empty path"),
        (["pretrain", "--out", " "], "argument --out: empty path"),
        (["pretrain", "--init-from", ""], "argument --init-from: empty path"),
        (["pretrain", "--recipe", ""], "argument --recipe: empty path"),
        # an output folder that is an input
        (
            ["recon", "predict", "--checkpoint", "{tmp}/model", "--images", "{tmp}/scene", "--out", "{tmp}/scene"],
            "{tmp}/scene: --out would write into the input {tmp}/scene",
        ),
    ],
)
def test_issue_14_user_errors_exit_2_with_one_line(argv, message, files, capsys, monkeypatch):
    monkeypatch.chdir(files)  # a command that took "" for the current folder would write here
    before = sorted(p.name for p in files.iterdir())

    def fill(text):
        return str(text).replace("{tmp}", str(files))

    code, err = run_cli([fill(arg) for arg in argv], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert fill(message) in lines[-1]
    assert lines[-1].startswith("muskie") and (message.startswith("argument ") or len(lines) == 1), err
    assert sorted(p.name for p in files.iterdir()) == before, "nothing was written"


def test_pretrain_on_a_full_disk_says_so_in_one_line(tmp_path, capsys):
    from fixtures import small_filesystem

    tiny = [
        "--preset",
        "tiny",
        "--set",
        "model_overrides={embed_dim: 32, depth: 1, num_heads: 2, patch_size: 8}",
        "--set",
        "data.resolutions=[[[32, 32]]]",
        "--set",
        "data.max_views=2",
        "--set",
        "data.batch_size=1",
        "--set",
        "data.workers=0",
        "--set",
        "data.synthetic_scenes=4",
        "--set",
        "checkpoint_every=1",
        "--steps",
        2,
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--no-progress",
    ]
    with small_filesystem(tmp_path / "disk", size="200k") as disk:  # the first checkpoint does not fit
        code, err = run_cli(["pretrain", *tiny, "--out", disk / "run"], capsys)
        assert code == 2 and "Traceback" not in err
        assert err.strip().splitlines()[-1] == (
            f"muskie pretrain: error: no space left on {disk / 'run'}: checkpoint-last.pt was not written"
        )
        assert not list((disk / "run").glob(".checkpoint-last.pt.*")), "no temporary file left"
