"""muskie.data.datasets: the one scene-source opener and the evaluation sample rule."""

import pytest

from muskie.data.datasets import evaluation_batches, evaluation_requests, open_view_dataset
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset, write_synthetic_scenes
from muskie.data.views import MultiViewDataset, ViewRequest


def test_synthetic_and_disk_sources(tmp_path):
    synthetic = open_view_dataset("synthetic", split="val", synthetic_scenes=3, window=6)
    assert isinstance(synthetic, SyntheticViewDataset) and len(synthetic) == 3
    assert synthetic.split == "val" and synthetic.config.num_frames == 6
    write_synthetic_scenes(
        tmp_path / "scenes", num_scenes=2, split="test", config=SyntheticConfig(num_frames=3), height=16, width=16
    )
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


def mixture_roots(tmp_path):
    """A transforms.json dataset of two scenes (with depth) and an image-folder dataset of one."""
    from fixtures import write_camera_scene, write_image_folder

    for name in ("s0", "s1"):
        write_camera_scene(tmp_path / "cams" / name, 4)
    write_image_folder(tmp_path / "plain" / "p0", 5)
    return tmp_path / "cams", tmp_path / "plain"


def test_a_mixture_of_two_formats_is_deterministic_and_resumable(tmp_path):
    import torch

    from muskie.config_io import from_dict
    from muskie.data.datasets import SceneSourceConfig
    from muskie.data.views import MultiViewBatchSampler
    from muskie.train.streams import batch_stream

    cams, plain = mixture_roots(tmp_path)
    data = from_dict(
        SceneSourceConfig,
        {
            "sources": [
                {"path": str(cams), "format": "transforms_json", "window": 3},
                {"path": str(plain), "format": "images", "weight": 2},
            ]
        },
        "data",
    )
    data.validate()
    dataset = data.open("train", images_only=True)
    assert [(n, scenes) for n, scenes, _ in dataset.describe()] == [
        (f"transforms_json:{cams}", 2),
        (f"images:{plain}", 1),
    ]
    assert [part.window for part in dataset.datasets] == [3, 32]
    sampler = MultiViewBatchSampler(len(dataset), batch_size=2, num_views=2, sizes=[(8, 8)], seed=1)
    stream = batch_stream(dataset, sampler, start=0)
    full = [next(stream) for _ in range(5)]
    resumed = batch_stream(dataset, sampler, start=3, workers=1)  # another process, the same batches
    for expected in full[3:]:
        batch = next(resumed)
        assert torch.equal(batch.images, expected.images) and batch.scenes == expected.scenes
    scenes = {name for batch in full for name in batch.scenes}
    assert "p0" in scenes and scenes & {"s0", "s1"}


def test_mixture_settings_are_checked_naming_the_key(tmp_path):
    from muskie.config_io import ConfigError, from_dict
    from muskie.data.datasets import SceneSourceConfig

    def check(entry, **top):
        from_dict(SceneSourceConfig, {"sources": [{"path": "x"}, entry], **top}, "data").validate()

    with pytest.raises(ConfigError, match=r"data.sources\[1\].weight must be > 0"):
        check({"path": "y", "weight": 0})
    with pytest.raises(ConfigError, match=r"data.sources\[1\].format: unknown dataset format 'nope'"):
        check({"path": "y", "format": "nope"})
    with pytest.raises(ConfigError, match=r"data.sources\[1\].path is empty"):
        check({"weight": 1})
    with pytest.raises(ConfigError, match=r"data.sources\[1\].object_zoom must be a probability"):
        check({"path": "y", "object_zoom": 2})
    with pytest.raises(ConfigError, match=r"data.sources\[1\].views must be one of window, neighbours"):
        check({"path": "y", "views": "pairs"})
    with pytest.raises(ConfigError, match="data.source or data.sources, not both"):
        check({"path": "y"}, source="/data")
    with pytest.raises(ConfigError, match=r"data.sources\[1\].*unknown key"):
        check({"path": "y", "weigth": 1})


def test_mixture_paths_that_do_not_fit_are_named(tmp_path):
    from muskie.data.datasets import DatasetSourceConfig, open_mixture

    cams, plain = mixture_roots(tmp_path)
    with pytest.raises(ValueError, match=r"data.sources\[1\].path: .*missing: no such file"):
        open_mixture([DatasetSourceConfig(str(cams)), DatasetSourceConfig(str(tmp_path / "missing"))])
    with pytest.raises(ValueError, match=r"data.sources\[0\].path: .*no scene folder found"):
        open_mixture([DatasetSourceConfig(str(plain), format="transforms_json")])
    with pytest.raises(ValueError, match=r"data.sources\[0\].views is neighbours, but no scene"):
        open_mixture([DatasetSourceConfig(str(cams), views="neighbours")])


def test_a_manifest_entry_takes_its_format_defaults(tmp_path):
    from muskie.data.datasets import DatasetSourceConfig, open_source
    from muskie.data.formats import FORMATS
    from muskie.data.sources import build_manifest
    from muskie.data.sources.manifest import scene_record, write_manifest

    cams, _ = mixture_roots(tmp_path)
    scenes = build_manifest(cams, tmp_path / "m.json")
    dataset = open_source(DatasetSourceConfig(str(tmp_path / "m.json"), format="transforms_json"))
    assert len(dataset) == 2 and dataset.window == FORMATS["transforms_json"].window and dataset.object_zoom == 0

    scenes[0].neighbours = {0: [2, 3]}
    write_manifest([scene_record(s, s.name, cams) for s in scenes], cams, tmp_path / "pairs.json")
    dataset = open_source(DatasetSourceConfig(str(tmp_path / "pairs.json"), views="neighbours"))
    sample = dataset[ViewRequest(0, 2, 8, 8, 0)]
    assert sample["scene"] == "s0" and sample["cam_to_world"][0, 0, 3] == 0
    assert sample["cam_to_world"][1, 0, 3] in (2, 3)  # frame i sits at x = i


def test_pretraining_reads_no_depth_file(tmp_path):
    from fixtures import tiny_pretrain_config

    from muskie.pretraining.task import PretrainTask

    cams, plain = mixture_roots(tmp_path)
    for depth in cams.rglob("depth/*.png"):
        depth.unlink()
    for data in ({"source": str(cams)}, {"sources": [{"path": str(cams)}, {"path": str(plain)}]}):
        config = tiny_pretrain_config(tmp_path / "run", data=data)
        config.validate()
        dataset = PretrainTask(config).dataset()
        samples = [dataset[ViewRequest(0, 3, 16, 16, seed)] for seed in range(6)]
        assert all(set(sample) == {"images", "scene"} for sample in samples)
        assert {"s0", "s1"} & {sample["scene"] for sample in samples}
        assert all(part.num_skipped == 0 for part in getattr(dataset, "datasets", [dataset]))


def test_an_entry_takes_window_and_object_zoom_from_its_format(monkeypatch):
    import dataclasses

    from muskie.data.datasets import OBJECT_ZOOM, DatasetSourceConfig
    from muskie.data.formats import FORMATS

    objects = dataclasses.replace(FORMATS["images"], name="objects", window=16, object_centric=True)
    monkeypatch.setitem(FORMATS, "objects", objects)
    entry = DatasetSourceConfig("x", format="objects")
    assert (entry.frame_window(), entry.zoom_probability()) == (16, OBJECT_ZOOM) and OBJECT_ZOOM == 0.5
    entry = DatasetSourceConfig("x", format="objects", window=8, object_zoom=0.0)
    assert (entry.frame_window(), entry.zoom_probability()) == (8, 0.0)
    assert DatasetSourceConfig("x", format="images").zoom_probability() == 0
