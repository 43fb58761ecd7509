"""``muskie features`` (``muskie.features``): the saved features and attention are the model's output for the
same images, chunked as recorded; the metadata says how to read the file; bad inputs exit 2 with one line."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from muskie.cli.main import main
from muskie.constants import normalize_image
from muskie.data.imageio import read_image
from muskie.data.transforms import resize
from muskie.features import chunk_ranges, read_features_metadata
from muskie.model import Muskie, MuskieBackbone

CHECKPOINT = Path(__file__).resolve().parent / "data" / "folders_v2" / "muskie"  # patch 4, 2 blocks


def write_images(folder: Path, count: int, size: tuple[int, int] = (16, 12), seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = folder / f"frame{index}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def model_input(paths, size=None) -> torch.Tensor:
    """``(1, V, 3, H, W)`` in [-1, 1], as the model should have seen the images."""
    views = [read_image(p) if size is None else resize(read_image(p), size)[0] for p in paths]
    return normalize_image(torch.stack(views))[None]


def test_chunks_cover_the_views_in_near_equal_sizes():
    for views in range(1, 30):
        for batch in range(1, 10):
            ranges = chunk_ranges(views, batch)
            sizes = [end - start for start, end in ranges]
            assert ranges[0][0] == 0 and ranges[-1][1] == views
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
            assert max(sizes) <= batch and max(sizes) - min(sizes) <= 1 and len(ranges) == -(-views // batch)


def test_saved_features_and_attention_are_the_models_output(tmp_path, capsys):
    paths = write_images(tmp_path / "images", 5)
    out = tmp_path / "features.safetensors"
    assert (
        main(
            [
                "features",
                "--checkpoint",
                str(CHECKPOINT),
                "--images",
                str(tmp_path / "images"),
                "--blocks",
                "0",
                "-1",
                "--attention",
                "--batch-views",
                "3",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out
    meta = read_features_metadata(out)
    assert meta["chunks"] == [[0, 2], [2, 5]]
    assert meta["images"] == [p.name for p in paths] and meta["scenes"] == ["images"] * 5
    assert meta["size"] == [16, 12] and meta["grid"] == [4, 3] and meta["patch_size"] == 4
    assert meta["blocks"] == [0, 1] and meta["attention_blocks"] == [0, 1]
    assert meta["model"]["class"] == "MuskieBackbone" and meta["model"]["config"]["embed_dim"] == 8
    saved = load_file(str(out))
    model = MuskieBackbone.from_pretrained(CHECKPOINT).eval()
    for chunk, (start, end) in enumerate(meta["chunks"]):
        with torch.no_grad():
            expected = model(model_input(paths[start:end]), attention_blocks=[0, 1])
        for block in (0, 1):
            torch.testing.assert_close(saved[f"features.block{block}"][start:end], expected.features[block][0])
            torch.testing.assert_close(saved[f"attention.block{block}.chunk{chunk}"], expected.attention[block][0])
    assert saved["features.block1"].shape == (5, 12, 8)


def test_scenes_resized_to_a_size_record_their_scene_and_image(tmp_path):
    first = write_images(tmp_path / "root" / "a" / "images", 2, size=(12, 12), seed=1)
    second = write_images(tmp_path / "root" / "b" / "images", 3, size=(20, 16), seed=2)
    out = tmp_path / "scenes.safetensors"
    assert (
        main(
            [
                "features",
                "--checkpoint",
                str(CHECKPOINT),
                "--scenes",
                str(tmp_path / "root"),
                "--size",
                "8",
                "8",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    meta = read_features_metadata(out)
    assert meta["scenes"] == ["a", "a", "b", "b", "b"] and meta["chunks"] == [[0, 2], [2, 5]]
    assert meta["images"] == ["images/frame0.png", "images/frame1.png"] + [f"images/frame{i}.png" for i in range(3)]
    assert meta["blocks"] == [1] and meta["attention_blocks"] == [] and meta["grid"] == [2, 2]
    model = Muskie.from_pretrained(CHECKPOINT).eval()
    saved = load_file(str(out))["features.block1"]
    with torch.no_grad():  # each scene went through the model on its own
        for paths, rows in ((first, slice(0, 2)), (second, slice(2, 5))):
            torch.testing.assert_close(saved[rows], model(model_input(paths, size=(8, 8))).features[-1][0])


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (lambda d: d.mkdir(), [], "no images found"),
        (
            lambda d: write_images(d, 2),
            ["--size", "10", "8"],
            "size 10x8 is not a positive multiple of the patch size 4",
        ),
        (lambda d: write_images(d, 2, size=(10, 8)), [], "10x8 pixels is not a multiple of the patch size 4"),
        (lambda d: write_images(d, 2), ["--blocks", "2"], "block 2 does not exist; the model has blocks 0..1"),
        (lambda d: write_images(d, 2), ["--batch-views", "0"], "batch_views must be >= 1"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, make, extra, message):
    make(tmp_path / "images")
    code = main(
        [
            "features",
            "--checkpoint",
            str(CHECKPOINT),
            "--images",
            str(tmp_path / "images"),
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "f.safetensors"),
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("muskie features: error: ") and message in err
    assert not (tmp_path / "f.safetensors").exists()
