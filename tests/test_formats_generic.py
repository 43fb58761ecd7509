"""muskie.data.formats.generic: muskie's generic scene folders read as dataset formats."""

import pytest
from fixtures import write_camera_scene, write_image_folder

from muskie.data.formats import FormatError, get_format, read_dataset


def test_each_format_finds_its_own_scene_folders(tmp_path):
    write_camera_scene(tmp_path / "a" / "cams", 3)
    write_image_folder(tmp_path / "b" / "plain", 2)
    assert get_format("transforms_json").find_scenes(tmp_path) == ["a/cams"]
    assert get_format("images").find_scenes(tmp_path) == ["b/plain"]
    assert get_format("auto").find_scenes(tmp_path) == ["a/cams", "b/plain"]
    with pytest.raises(FormatError, match="expected folders holding a COLMAP model"):
        get_format("colmap").find_scenes(tmp_path)
    assert get_format("images").find_scenes(tmp_path / "b" / "plain") == ["."]


def test_cameras_and_depth_are_left_out_when_not_asked_for(tmp_path):
    write_camera_scene(tmp_path / "cams", 3)
    (full,) = read_dataset(tmp_path, "transforms_json")
    assert full.name == "cams" and full.has_cameras and full.has_depth
    (bare,) = read_dataset(tmp_path, "transforms_json", cameras=False, depth=False)
    assert len(bare) == 3 and not any(f.intrinsics is not None or f.depth_path is not None for f in bare.frames)
    with pytest.raises(FormatError, match="not a transforms_json scene"):
        get_format("transforms_json").read_scene(tmp_path, "missing")
