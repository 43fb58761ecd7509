import numpy as np
import pytest
import torch
from PIL import Image

from muskie.data.scene import Frame, Scene
from muskie.data.sources import load_scene, scene_format, write_colmap_scene, write_transforms_json


def _transforms_scene(path, views=2):
    intrinsics = np.tile(np.array([[5.0, 0, 1.5], [0, 5.0, 1.5], [0, 0, 1]]), (views, 1, 1))
    write_transforms_json(path, torch.zeros(views, 3, 4, 4), intrinsics, np.tile(np.eye(4), (views, 1, 1)))


def test_detects_each_format(tmp_path):
    _transforms_scene(tmp_path / "tj")
    assert scene_format(tmp_path / "tj") == "transforms_json"
    assert scene_format(tmp_path / "tj" / "transforms.json") == "transforms_json"
    assert len(load_scene(tmp_path / "tj")) == 2

    colmap = tmp_path / "colmap"
    (colmap / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(colmap / "images" / "a.png")
    frame = Frame(colmap / "images" / "a.png", 4, 4, np.eye(3), np.eye(4))
    write_colmap_scene(colmap / "sparse" / "0", Scene("colmap", colmap, [frame]))
    assert scene_format(colmap) == "colmap"
    assert load_scene(colmap).has_cameras
    # a folder holding the model files directly
    assert scene_format(colmap / "sparse" / "0") == "colmap"

    assert scene_format(colmap / "images") == "image_folder"
    assert not load_scene(colmap / "images").has_cameras


def test_nonexistent_and_non_scene_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        load_scene(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    assert scene_format(tmp_path / "empty") is None
    with pytest.raises(ValueError, match="empty: not a scene"):
        load_scene(tmp_path / "empty")
