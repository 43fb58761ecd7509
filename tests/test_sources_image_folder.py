import numpy as np
import pytest
from PIL import Image

from muskie.data.imageio import ImageReadError
from muskie.data.sources.image_folder import read_image_folder


def _save(path, width=5, height=4):
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)


def test_natural_order_sizes_and_no_cameras(tmp_path):
    for name in ["frame10.png", "frame2.jpg", "frame1.png"]:
        _save(tmp_path / name)
    _save(tmp_path / "frame3.png", width=7, height=3)
    (tmp_path / "notes.txt").write_text("not an image")
    scene = read_image_folder(tmp_path)
    assert [f.image_path.name for f in scene.frames] == ["frame1.png", "frame2.jpg", "frame3.png", "frame10.png"]
    assert (scene.frames[2].width, scene.frames[2].height) == (7, 3)
    assert not scene.has_cameras and all(f.intrinsics is None and f.cam_to_world is None for f in scene.frames)
    assert scene.name == tmp_path.name


def test_images_subfolder(tmp_path):
    (tmp_path / "images").mkdir()
    _save(tmp_path / "images" / "a.png")
    scene = read_image_folder(tmp_path)
    assert len(scene) == 1 and scene.frames[0].image_path == tmp_path / "images" / "a.png"


def test_empty_folder_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="no images found"):
        read_image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="absent"):
        read_image_folder(tmp_path / "absent")


def test_unreadable_image_named(tmp_path):
    _save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="b.png"):
        read_image_folder(tmp_path)
