"""muskie.data.indexing: a dataset root indexed into a manifest v2, in parallel, in scene-id order."""

import json

import pytest
from fixtures import write_camera_scene, write_image_folder

from muskie.data.indexing import index_dataset
from muskie.data.sources import load_manifest


def test_an_index_reads_back_as_the_scenes(tmp_path):
    for name in ("b", "a", "c"):
        write_camera_scene(tmp_path / "data" / name, 3)
    serial = index_dataset(tmp_path / "data", "transforms_json", tmp_path / "serial.json")
    parallel = index_dataset(tmp_path / "data", "transforms_json", tmp_path / "parallel.json", workers=2)
    assert (serial.scenes, serial.frames, serial.failed) == (3, 9, [])
    assert json.loads((tmp_path / "serial.json").read_text()) == json.loads((tmp_path / "parallel.json").read_text())
    manifest = json.loads((tmp_path / "serial.json").read_text())
    assert manifest["version"] == 2 and manifest["root"] == "data"
    scenes = load_manifest(tmp_path / "serial.json")
    assert [s.name for s in scenes] == ["a", "b", "c"] and all(s.has_cameras and s.has_depth for s in scenes)
    assert parallel.frames == 9


def test_unreadable_scenes_are_left_out_and_listed(tmp_path):
    write_image_folder(tmp_path / "data" / "good", 2)
    write_image_folder(tmp_path / "data" / "bad", 2)
    (tmp_path / "data" / "bad" / "001.png").write_bytes(b"")
    summary = index_dataset(tmp_path / "data", "images", tmp_path / "m.json")
    assert summary.scenes == 1 and [scene for scene, _ in summary.failed] == ["bad"]
    assert "empty file" in summary.failed[0][1]
    (tmp_path / "data" / "good" / "000.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no scene could be read as images"):
        index_dataset(tmp_path / "data", "images", tmp_path / "none.json")
    assert not (tmp_path / "none.json").exists()
