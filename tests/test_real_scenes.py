"""The real scenes of ``../shared/data/real`` load with the sizes, counts and conventions its README gives.

Skipped, saying why, when the folder is absent (the ``real_data`` fixture of ``conftest.py``; set
``MUSKIE_REAL_DATA`` to point elsewhere).
"""

import numpy as np
import pytest

from muskie.data.imageio import image_size
from muskie.data.sources import load_scene, load_scenes
from muskie.data.views import MultiViewDataset, ViewRequest

README = {"templeRing": (19, 640, 480), "dino": (48, 640, 480), "dtu24": (49, 384, 384)}


@pytest.mark.parametrize("name", sorted(README))
def test_counts_sizes_and_intrinsics(real_data, name):
    views, width, height = README[name]
    scene = load_scene(real_data / name)
    assert scene.name == name and len(scene) == views and scene.has_cameras
    for frame in scene.frames:
        assert (frame.width, frame.height) == (width, height)
        assert image_size(frame.image_path) == (width, height)
        k = frame.intrinsics
        assert k[0, 0] > 0 and k[1, 1] > 0 and k[0, 1] == 0 and np.array_equal(k[2], [0, 0, 1])
        assert 0 <= k[0, 2] <= width - 1 and 0 <= k[1, 2] <= height - 1
        rotation = frame.cam_to_world[:3, :3]
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-5)
        assert np.linalg.det(rotation) > 0


@pytest.mark.parametrize("name", sorted(README))
def test_cameras_look_at_the_object_in_opencv_axes(real_data, name):
    """Each scene films one object: the point nearest to all optical axes projects inside every view, in
    front of the camera. With the OpenGL axes left unconverted it would lie behind every camera."""
    scene = load_scene(real_data / name)
    centres = np.stack([f.cam_to_world[:3, 3] for f in scene.frames])
    axes = np.stack([f.cam_to_world[:3, 2] for f in scene.frames])
    # least squares: sum over cameras of (I - a a^T) (x - c) = 0
    projectors = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]
    target = np.linalg.solve(projectors.sum(0), np.einsum("nij,nj->i", projectors, centres))
    for frame in scene.frames:
        world_to_cam = np.linalg.inv(frame.cam_to_world)
        point = world_to_cam[:3, :3] @ target + world_to_cam[:3, 3]
        assert point[2] > 0
        u, v = (frame.intrinsics @ point)[:2] / point[2]
        assert 0 <= u < frame.width and 0 <= v < frame.height


def test_real_scenes_feed_the_dataset(real_data):
    scenes = load_scenes(real_data)
    assert sorted(s.name for s in scenes) == sorted(README)
    dataset = MultiViewDataset(scenes, skip_bad=False)
    sample = dataset[ViewRequest(0, 4, 64, 96, seed=0)]
    assert sample["images"].shape == (4, 3, 64, 96) and sample["intrinsics"].shape == (4, 3, 3)
    assert -1 <= sample["images"].min() < sample["images"].max() <= 1
