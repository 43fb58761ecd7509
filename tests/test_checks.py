"""muskie.data.checks: a correct scene passes; inverted poses, a wrong depth unit, bad cameras fail (poses that
are not rigid are refused when the manifest is read: test_robustness_datasets.py)."""

import dataclasses

import numpy as np
import pytest

from muskie.data.checks import check_manifest, check_scenes, intrinsics_sane
from muskie.data.sources import load_scenes
from muskie.data.sources.manifest import scene_record, write_manifest
from muskie.data.synthetic import SyntheticConfig, write_synthetic_scenes
from muskie.geometry.poses import opengl_to_opencv


@pytest.fixture(scope="module")
def synthetic_scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    write_synthetic_scenes(root, 1, split="test", config=SyntheticConfig(num_frames=6), height=32, width=32)
    (scene,) = load_scenes(root)
    return scene


def with_frames(scene, **change):
    """``scene`` with every frame's fields changed: a value, or a function of the frame."""
    frames = [
        dataclasses.replace(f, **{k: v(f) if callable(v) else v for k, v in change.items()}) for f in scene.frames
    ]
    return dataclasses.replace(scene, frames=frames)


def checks(report):
    return {check.name: check for check in report.checks}


def test_a_correct_scene_passes(synthetic_scene, tmp_path):
    write_manifest(
        [scene_record(synthetic_scene, synthetic_scene.name, synthetic_scene.root)],
        synthetic_scene.root,
        tmp_path / "m.json",
    )
    report = check_manifest(tmp_path / "m.json", samples=6)
    assert report.passed and (report.scenes, report.frames, report.with_depth) == (1, 6, 6)
    assert report.image_sizes == {(32, 32): 6} and 1 < report.median_depth < 10
    assert checks(report)["reprojection"].checked == 6 and checks(report)["reprojection"].value < 0.02


@pytest.mark.parametrize("wrong", [np.linalg.inv, opengl_to_opencv], ids=["inverted", "opengl"])
def test_wrong_pose_conventions_fail_the_reprojection(synthetic_scene, wrong):
    report = check_scenes([with_frames(synthetic_scene, cam_to_world=lambda f: wrong(f.cam_to_world))], samples=6)
    assert not report.passed and not checks(report)["reprojection"].passed  # still rigid: only the geometry shows it


def test_millimetres_read_as_metres_fail(synthetic_scene):
    report = check_scenes([with_frames(synthetic_scene, depth_scale=1.0)], samples=6)
    assert not checks(report)["reprojection"].passed and report.median_depth > 1000


def test_bad_intrinsics_and_sizes_are_counted(synthetic_scene):
    report = check_scenes([with_frames(synthetic_scene, width=40)], samples=4)
    assert checks(report)["image size"].failed == 4 and checks(report)["intrinsics"].passed
    frame = dataclasses.replace(synthetic_scene.frames[0], intrinsics=np.array([[20, 0, 40], [0, 20, 15], [0, 0, 1.0]]))
    assert not intrinsics_sane(frame) and intrinsics_sane(synthetic_scene.frames[0])


def test_an_unreadable_depth_file_fails_its_pair(synthetic_scene):
    missing = with_frames(synthetic_scene, depth_path=lambda f: f.depth_path.with_name("missing.png"))
    reprojection = checks(check_scenes([missing], samples=3))["reprojection"]
    assert (reprojection.checked, reprojection.failed, reprojection.passed) == (3, 3, False)
