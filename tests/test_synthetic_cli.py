import json

import numpy as np
import pytest
import torch

from muskie.cli.main import main
from muskie.data.depth_codecs import read_depth
from muskie.data.imageio import read_image
from muskie.data.sources.transforms_json import read_transforms_json
from muskie.data.synthetic import SyntheticConfig, make_scene, render_sample, split_seeds, write_synthetic_scenes


def test_muskie_synth_writes_scenes_that_read_back(tmp_path, capsys):
    args = ["--scenes", "2", "--split", "test", "--frames", "3", "--height", "16", "--width", "24", "--path", "orbit"]
    code = main(["synth", "--out", str(tmp_path), *args])
    assert code == 0 and "wrote 2 scenes" in capsys.readouterr().out
    config = SyntheticConfig(camera_path="orbit", num_frames=3)
    for index in range(2):
        scene = read_transforms_json(tmp_path / f"synthetic-test-{index:06d}")
        assert len(scene) == 3 and scene.has_cameras and scene.has_depth
        expected = render_sample(make_scene(split_seeds("test")[index], config), torch.arange(3), 16, 24, "x")
        for view, frame in enumerate(scene.frames):
            assert (frame.width, frame.height) == (24, 16)
            np.testing.assert_allclose(frame.intrinsics, expected["intrinsics"][view].double().numpy(), atol=1e-6)
            np.testing.assert_allclose(frame.cam_to_world, expected["cam_to_world"][view].double().numpy(), atol=1e-6)
            image = read_image(frame.image_path)
            torch.testing.assert_close(image, (expected["images"][view] + 1) / 2, atol=0.5 / 255 + 1e-6, rtol=0)
            depth = read_depth(frame.depth_path, frame.depth_scale)
            torch.testing.assert_close(depth, expected["depth"][view], atol=0.5e-3 + 1e-6, rtol=0)


def test_npy_depth_is_exact_and_far_png_depth_is_unknown(tmp_path):
    config = SyntheticConfig(camera_path="forward", num_frames=2)
    [folder] = write_synthetic_scenes(tmp_path / "npy", 1, config=config, height=12, width=16, depth_format="npy")
    expected = render_sample(make_scene(split_seeds("train")[0], config), torch.arange(2), 12, 16, "x")["depth"]
    scene = read_transforms_json(folder)
    assert json.loads((folder / "transforms.json").read_text())["depth_unit_scale_factor"] == 1.0
    for view, frame in enumerate(scene.frames):
        assert torch.equal(read_depth(frame.depth_path, frame.depth_scale), expected[view])
    assert expected.max() > 0
    [folder] = write_synthetic_scenes(tmp_path / "png", 1, config=config, height=12, width=16)
    stored = read_depth(read_transforms_json(folder).frames[0].depth_path, 1e-3)
    torch.testing.assert_close(stored, torch.where(expected[0] <= 65.535, expected[0], 0.0), atol=0.5e-3 + 1e-6, rtol=0)


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--scenes", "1", "--overlap", "1.5"]) == 2
    assert "overlap" in capsys.readouterr().err
    with pytest.raises(ValueError, match="depth_format"):
        write_synthetic_scenes(tmp_path, 1, depth_format="exr")
    with pytest.raises(ValueError, match="num_scenes"):
        write_synthetic_scenes(tmp_path, 0)


def test_an_existing_scene_is_refused_unless_overwritten_and_then_replaced_whole(tmp_path, capsys):
    args = ["synth", "--out", str(tmp_path), "--scenes", "1", "--height", "8", "--width", "8"]
    assert main([*args, "--frames", "4"]) == 0
    scene = tmp_path / "synthetic-train-000000"
    before = {p: p.read_bytes() for p in scene.rglob("*") if p.is_file()}
    assert main([*args, "--frames", "2"]) == 2
    assert f"{scene}: exists (1 of the 1 scene folders do); pass --overwrite" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in scene.rglob("*") if p.is_file()} == before, "the scene is untouched"
    assert main([*args, "--frames", "2", "--overwrite"]) == 0
    assert sorted(p.name for p in (scene / "images").iterdir()) == ["000.png", "001.png"], "no stale frame"
    assert len(read_transforms_json(scene)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic-train-000000"], "no temporary folder left"
