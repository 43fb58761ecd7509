import numpy as np
import pytest

from muskie.data.scene import Frame, Scene


def test_frame_normalises_fields():
    frame = Frame("a/b.png", 64.0, 48, intrinsics=np.eye(3, dtype=np.float32).tolist(), cam_to_world=np.eye(4))
    assert frame.width == 64 and isinstance(frame.width, int)
    assert frame.intrinsics.dtype == np.float64 and frame.intrinsics.shape == (3, 3)
    assert frame.image_path.name == "b.png"
    assert frame.has_camera


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 0}, "width"),
        ({"height": 2.5}, "height"),
        ({"intrinsics": np.eye(4)}, "intrinsics"),
        ({"cam_to_world": np.eye(3)}, "cam_to_world"),
        ({"cam_to_world": np.full((4, 4), np.nan)}, "non-finite"),
        ({"depth_scale": 0.0}, "depth_scale"),
    ],
)
def test_frame_rejects_bad_fields_naming_the_image(kwargs, message):
    fields = {"image_path": "scene/img.png", "width": 4, "height": 4, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        Frame(**fields)
    assert "img.png" in str(info.value)


def test_scene_flags():
    with_camera = Frame("a.png", 4, 4, np.eye(3), np.eye(4), depth_path="a.depth.png")
    without = Frame("b.png", 4, 4)
    assert Scene("s", ".", [with_camera]).has_cameras
    assert Scene("s", ".", [with_camera]).has_depth
    mixed = Scene("s", ".", [with_camera, without])
    assert len(mixed) == 2 and not mixed.has_cameras and not mixed.has_depth
    assert not Scene("empty", ".").has_cameras
