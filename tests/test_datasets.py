"""muskie.data.datasets: the one scene-source opener and the evaluation sample rule."""

import pytest

from muskie.data.datasets import evaluation_batches, evaluation_requests, open_view_dataset
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset, write_synthetic_scenes
from muskie.data.views import MultiViewDataset, ViewRequest


def test_synthetic_and_disk_sources(tmp_path):
    synthetic = open_view_dataset("synthetic", split="val", synthetic_scenes=3, window=6)
    assert isinstance(synthetic, SyntheticViewDataset) and len(synthetic) == 3
    assert synthetic.split == "val" and synthetic.config.num_frames == 6
    write_synthetic_scenes(tmp_path / "scenes", num_scenes=2, split="test", config=SyntheticConfig(num_frames=3),
                           height=16, width=16)
    disk = open_view_dataset(str(tmp_path / "scenes"), crop_scale=(1.0, 1.0), require=("cameras", "depth"))
    assert isinstance(disk, MultiViewDataset) and len(disk) == 2 and disk.crop_scale == (1.0, 1.0)


def test_empty_source_and_missing_requirements_are_refused(tmp_path):
    with pytest.raises(ValueError, match="scene source is empty"):
        open_view_dataset("")
    (tmp_path / "plain").mkdir()
    from PIL import Image

    for i in range(2):
        Image.new("RGB", (8, 8)).save(tmp_path / "plain" / f"{i}.png")
    with pytest.raises(ValueError, match="every scene needs depth and cameras"):
        open_view_dataset(str(tmp_path / "plain"), require=("depth", "cameras"))


def test_evaluation_samples_cycle_through_scenes_with_their_own_seeds():
    dataset = open_view_dataset("synthetic", split="test", synthetic_scenes=2)
    requests = evaluation_requests(dataset, 5, 3, (16, 24), seed=7)
    assert [r.index for r in requests] == [0, 1, 0, 1, 0] and [r.seed for r in requests] == [7, 8, 9, 10, 11]
    assert {(r.num_views, r.height, r.width) for r in requests} == {(3, 16, 24)}
    batches = list(evaluation_batches(dataset, 5, 3, (16, 24), seed=7, batch_size=2))
    assert [b.num_scenes for b in batches] == [2, 2, 1] and batches[0].images.shape[1:] == (3, 3, 16, 24)


def test_a_synthetic_mixture_cycles_through_its_kinds():
    mix = [{"camera_path": "orbit", "overlap": 0.5}, {"camera_path": "walk"}, {"camera_path": "forward"}]
    dataset = open_view_dataset("synthetic", split="val", synthetic_scenes=6, window=8, synthetic_mix=mix)
    kinds = [dataset.scene_config(i).camera_path for i in range(6)]
    assert kinds == ["orbit", "walk", "forward"] * 2
    assert dataset.scene_config(3).overlap == 0.5 and dataset.scene_config(4).overlap == 0.7
    assert all(dataset.scene_config(i).num_frames == 8 for i in range(6))
    sample = dataset[ViewRequest(0, 3, 16, 16, 0)]
    assert sample["images"].shape == (3, 3, 16, 16)


def test_a_bad_mixture_entry_is_named():
    from muskie.config_io import ConfigError

    with pytest.raises(ConfigError, match=r"data.synthetic_mix\[1\].*camera path"):
        open_view_dataset("synthetic", synthetic_mix=[{}, {"camera_path": "spiral"}])
    with pytest.raises(ConfigError, match=r"data.synthetic_mix\[0\].*unknown key"):
        open_view_dataset("synthetic", synthetic_mix=[{"speed": 3}])
