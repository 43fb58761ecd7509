import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.sources import build_manifest, load_manifest, load_scenes, write_transforms_json


def _dataset(root):
    """root/cat/seq_a (transforms.json with depth), root/cat/seq_b (images only), root/.hidden (ignored)."""
    intrinsics = np.tile(np.array([[5.0, 0, 1.5], [0, 6.0, 2.5], [0, 0, 1]]), (3, 1, 1))
    poses = np.tile(np.eye(4), (3, 1, 1))
    poses[:, 0, 3] = [0.0, 1.0, 2.0]
    write_transforms_json(root / "cat" / "seq_a", torch.rand(3, 3, 6, 4), intrinsics, poses, torch.ones(3, 6, 4))
    (root / "cat" / "seq_b").mkdir(parents=True)
    for name in ["1.png", "2.png"]:
        Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(root / "cat" / "seq_b" / name)
    (root / ".hidden").mkdir()
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(root / ".hidden" / "x.png")


def _same(scenes_a, scenes_b):
    assert [s.name for s in scenes_a] == [s.name for s in scenes_b]
    for a, b in zip(scenes_a, scenes_b, strict=True):
        assert len(a) == len(b)
        for fa, fb in zip(a.frames, b.frames, strict=True):
            assert fa.image_path.resolve() == fb.image_path.resolve()
            assert (fa.width, fa.height, fa.depth_scale) == (fb.width, fb.height, fb.depth_scale)
            assert (fa.depth_path is None) == (fb.depth_path is None)
            for x, y in [(fa.intrinsics, fb.intrinsics), (fa.cam_to_world, fb.cam_to_world)]:
                assert (x is None and y is None) or np.array_equal(x, y)


def test_build_and_load_round_trip(tmp_path):
    _dataset(tmp_path / "data")
    built = build_manifest(tmp_path / "data", tmp_path / "data" / "manifest.json")
    assert [s.name for s in built] == ["cat/seq_a", "cat/seq_b"]
    loaded = load_manifest(tmp_path / "data" / "manifest.json")
    _same(built, loaded)
    assert loaded[0].has_cameras and loaded[0].has_depth and not loaded[1].has_cameras
    assert loaded[0].frames[0].depth_path.is_file()
    _same(load_scenes(tmp_path / "data" / "manifest.json"), loaded)
    _same(load_scenes(tmp_path / "data"), loaded)


def test_manifest_moves_with_the_dataset_or_takes_a_root(tmp_path):
    _dataset(tmp_path / "data")
    build_manifest(tmp_path / "data", tmp_path / "data" / "index.json")
    build_manifest(tmp_path / "data", tmp_path / "elsewhere" / "index.json")
    shutil.move(tmp_path / "data", tmp_path / "moved")
    inside = load_manifest(tmp_path / "moved" / "index.json")
    assert all(f.image_path.is_file() for s in inside for f in s.frames)
    outside = load_manifest(tmp_path / "elsewhere" / "index.json", root=tmp_path / "moved")
    assert all(f.image_path.is_file() for s in outside for f in s.frames)


def test_load_scenes_single_scene_forms(tmp_path):
    _dataset(tmp_path / "data")
    assert [s.name for s in load_scenes(tmp_path / "data" / "cat" / "seq_a")] == ["seq_a"]
    assert len(load_scenes(tmp_path / "data" / "cat" / "seq_a" / "transforms.json")) == 1


def test_bad_scene_raises_or_is_skipped(tmp_path):
    _dataset(tmp_path / "data")
    (tmp_path / "data" / "cat" / "seq_a" / "transforms.json").write_text("{not json")
    with pytest.raises(ValueError, match="seq_a/transforms.json: malformed JSON"):
        build_manifest(tmp_path / "data", tmp_path / "m.json")
    with pytest.warns(UserWarning, match="skipping scene"):
        scenes = build_manifest(tmp_path / "data", tmp_path / "m.json", skip_bad=True)
    assert [s.name for s in scenes] == ["cat/seq_b"]


def test_a_manifest_without_root_or_with_scenes_not_a_list_names_the_file(tmp_path):
    _dataset(tmp_path / "data")
    build_manifest(tmp_path / "data", tmp_path / "m.json")
    manifest = json.loads((tmp_path / "m.json").read_text())
    for broken, said in (
        ({k: v for k, v in manifest.items() if k != "root"}, 'the manifest has no "root"'),
        ({**manifest, "root": 7}, 'the manifest has no "root"'),
        ({**manifest, "scenes": {"a": 1}}, '"scenes" is not a list'),
    ):
        (tmp_path / "broken.json").write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=f"{tmp_path / 'broken.json'}: {said}"):
            load_manifest(tmp_path / "broken.json")
    assert len(load_manifest(tmp_path / "m.json")) == len(load_manifest(tmp_path / "m.json", root=tmp_path / "data"))


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        build_manifest(tmp_path / "absent", tmp_path / "m.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no scenes found"):
        build_manifest(tmp_path / "empty", tmp_path / "m.json")
    with pytest.raises(FileNotFoundError, match="m.json"):
        load_manifest(tmp_path / "m.json")
    (tmp_path / "m.json").write_text(json.dumps({"scenes": []}))
    with pytest.raises(ValueError, match="not a muskie manifest"):
        load_manifest(tmp_path / "m.json")
    _dataset(tmp_path / "data")
    build_manifest(tmp_path / "data", tmp_path / "m.json")
    manifest = json.loads((tmp_path / "m.json").read_text())
    del manifest["scenes"][1]["frames"][1]["width"]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"m.json: scene 1 \(cat/seq_b\), frame 1: malformed entry"):
        load_manifest(tmp_path / "m.json")
