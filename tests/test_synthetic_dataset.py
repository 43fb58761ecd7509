import numpy as np
import pytest
import torch

from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset, make_scene, render_sample, split_seeds
from muskie.data.synthetic.textures import (
    PHOTO_NAMES,
    TextureAtlas,
    build_atlas,
    load_photos,
    noise_texture,
    photo_texture,
)
from muskie.data.views import ViewRequest


def test_sample_follows_the_layout_contract():
    dataset = SyntheticViewDataset(split="val", num_scenes=5)
    assert len(dataset) == 5
    sample = dataset[ViewRequest(index=2, num_views=3, height=16, width=24, seed=7)]
    assert set(sample) == {"images", "intrinsics", "cam_to_world", "depth", "valid", "scene"}
    assert sample["images"].shape == (3, 3, 16, 24) and sample["images"].dtype == torch.float32
    assert sample["images"].min() >= -1 and sample["images"].max() <= 1
    assert sample["intrinsics"].shape == (3, 3, 3) and sample["intrinsics"].dtype == torch.float32
    assert sample["cam_to_world"].shape == (3, 4, 4) and sample["cam_to_world"].dtype == torch.float32
    assert sample["depth"].shape == (3, 16, 24) and sample["depth"].dtype == torch.float32
    assert sample["valid"].dtype == torch.bool and sample["valid"].all()  # rooms are closed
    assert (sample["depth"] > 0.1).all() and (sample["depth"] < 20).all()
    assert sample["scene"] == "synthetic-val-000002"
    torch.testing.assert_close(sample["intrinsics"][:, :2, 2], torch.tensor([[11.5, 7.5]]).expand(3, 2))


def test_normals_are_opt_in_and_leave_the_other_fields_unchanged():
    request = ViewRequest(index=1, num_views=2, height=16, width=24, seed=3)
    plain = SyntheticViewDataset(split="val", num_scenes=3)[request]
    sample = SyntheticViewDataset(split="val", num_scenes=3, with_normals=True)[request]
    assert set(sample) == set(plain) | {"normals"}
    for key in ("images", "intrinsics", "cam_to_world", "depth", "valid"):
        assert torch.equal(sample[key], plain[key]), key
    normals = sample["normals"]
    assert normals.shape == (2, 3, 16, 24) and normals.dtype == torch.float32
    torch.testing.assert_close(normals.norm(dim=1), torch.ones(2, 16, 24))  # closed room: every pixel valid


def test_same_request_gives_identical_tensors_and_other_seeds_differ():
    config = SyntheticConfig(num_frames=8)
    first = SyntheticViewDataset(config=config, num_scenes=3)[ViewRequest(1, 4, 16, 16, 5)]
    again = SyntheticViewDataset(config=config, num_scenes=3)[ViewRequest(1, 4, 16, 16, 5)]
    for key in ("images", "intrinsics", "cam_to_world", "depth", "valid"):
        assert torch.equal(first[key], again[key]), key
    other_views = SyntheticViewDataset(config=config, num_scenes=3)[ViewRequest(1, 4, 16, 16, 6)]
    assert not torch.equal(first["cam_to_world"], other_views["cam_to_world"])
    other_scene = SyntheticViewDataset(config=config, num_scenes=3)[ViewRequest(2, 4, 16, 16, 5)]
    assert not torch.equal(first["images"], other_scene["images"])


def test_scene_generation_is_deterministic():
    a, b = make_scene(123), make_scene(123)
    assert torch.equal(a.atlas.texels, b.atlas.texels)
    assert torch.equal(a.path.cam_to_world, b.path.cam_to_world)
    assert torch.equal(a.objects.centres, b.objects.centres)
    assert not torch.equal(make_scene(124).path.cam_to_world, a.path.cam_to_world)


def test_views_are_distinct_frames_of_the_window():
    config = SyntheticConfig(num_frames=6)
    dataset = SyntheticViewDataset(config=config, num_scenes=1)
    sample = dataset[ViewRequest(0, 6, 8, 8, 0)]
    poses = make_scene(split_seeds("train")[0], config).path.cam_to_world.float()
    torch.testing.assert_close(sample["cam_to_world"], poses)  # all 6 frames, in path order
    with pytest.raises(ValueError, match="num_views"):
        dataset[ViewRequest(0, 7, 8, 8, 0)]
    with pytest.raises(IndexError):
        dataset[ViewRequest(1, 2, 8, 8, 0)]


def test_plain_int_index_works_with_a_dataloader():
    loader = torch.utils.data.DataLoader(
        SyntheticViewDataset(num_scenes=2, config=SyntheticConfig(num_frames=4)), batch_size=2
    )
    batch = next(iter(loader))
    assert batch["images"].shape == (2, 4, 3, 64, 64)
    assert batch["scene"] == ["synthetic-train-000000", "synthetic-train-000001"]


def test_splits_are_disjoint():
    ranges = [set(split_seeds(split)[:1000]) | {split_seeds(split)[-1]} for split in ("train", "val", "test")]
    spans = sorted((split_seeds(s).start, split_seeds(s).stop) for s in ("train", "val", "test"))
    assert all(stop <= next_start for (_, stop), (next_start, _) in zip(spans, spans[1:], strict=False))
    assert not (ranges[0] & ranges[1]) and not (ranges[1] & ranges[2]) and not (ranges[0] & ranges[2])
    with pytest.raises(ValueError, match="split"):
        split_seeds("dev")
    with pytest.raises(ValueError, match="num_scenes"):
        SyntheticViewDataset(split="val", num_scenes=10**9)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="camera path"):
        SyntheticConfig(camera_path="fly")
    with pytest.raises(ValueError, match="overlap"):
        SyntheticConfig(overlap=1.0)
    with pytest.raises(ValueError, match="num_objects"):
        SyntheticConfig(num_objects=(5, 2))
    with pytest.raises(ValueError, match="seed"):
        make_scene(-1)


def test_photos_load_offline_and_textures_are_images():
    photos = load_photos()
    assert len(photos) == len(PHOTO_NAMES)
    assert all(photo.shape[0] in (1, 3) and 0 <= photo.min() and photo.max() <= 1 for photo in photos)
    rng = np.random.default_rng(0)
    for texture in (photo_texture(rng, 20, 50), noise_texture(rng, 20, 50)):
        assert texture.shape == (3, 20, 50) and texture.dtype == torch.float32
        assert texture.min() >= 0 and texture.max() <= 1 and texture.std() > 0.02


def test_atlas_samples_bilinearly_and_picks_coarser_levels_for_large_footprints():
    texture = torch.arange(48, dtype=torch.float32).view(1, 4, 12).expand(3, 4, 12) / 48.0
    atlas = build_atlas([torch.zeros(3, 2, 2), texture], [1.0, 0.5])
    assert isinstance(atlas, TextureAtlas)
    assert atlas.height[1].tolist()[:3] == [4, 2, 1] and atlas.width[1].tolist()[:4] == [12, 6, 3, 1]
    face = torch.tensor([1, 1])
    # texel centres at (i + 0.5) / size: u, v halfway between texels (2, 1) and (3, 2) of level 0
    u, v = torch.tensor([3.0 / 12, 3.0 / 12]), torch.tensor([2.0 / 4, 2.0 / 4])
    colour = atlas.sample(face, u, v, footprint=torch.tensor([0.5, 4.0]))
    expected = ((1 * 12 + 2) + (1 * 12 + 3) + (2 * 12 + 2) + (2 * 12 + 3)) / 4 / 48.0
    assert colour[0, 0].item() == pytest.approx(expected)
    coarse = atlas.sample(face[:1], torch.tensor([0.5]), torch.tensor([0.5]), footprint=torch.tensor([100.0]))
    assert coarse[0, 0].item() == pytest.approx(texture[0].mean().item(), abs=1e-6)
    assert colour[1, 0].item() != pytest.approx(expected)  # footprint 8 texels: a blurred level


def test_view_jitter_moves_the_principal_point_and_keeps_the_geometry_exact():

    plain = SyntheticViewDataset("val", SyntheticConfig(num_frames=8), num_scenes=1)[ViewRequest(0, 3, 32, 32, 7)]
    config = SyntheticConfig(num_frames=8, principal_shift=0.25, zoom=(0.8, 1.25))
    jittered = SyntheticViewDataset("val", config, num_scenes=1)[ViewRequest(0, 3, 32, 32, 7)]
    assert torch.equal(plain["cam_to_world"], jittered["cam_to_world"]), "the same frames, the same poses"
    shift = jittered["intrinsics"][:, :2, 2] - plain["intrinsics"][:, :2, 2]
    assert (shift.abs() <= 0.25 * 32 + 1e-4).all() and (shift.abs() > 0).any()
    focal = jittered["intrinsics"][:, 0, 0] / plain["intrinsics"][:, 0, 0]
    assert ((focal >= 0.8 - 1e-6) & (focal <= 1.25 + 1e-6)).all()
    assert not torch.equal(plain["images"], jittered["images"])
    # the renderer uses the jittered camera: a principal point moved by 4 px renders the same rays 4 px over
    dataset = SyntheticViewDataset("val", SyntheticConfig(num_frames=8), num_scenes=1)
    frames = torch.tensor([2])
    same = render_sample(dataset.scene(0), frames, 32, 32, "s")
    moved = render_sample(dataset.scene(0), frames, 32, 32, "s", jitter=torch.tensor([[4 / 32, 0.0, 1.0]]))
    torch.testing.assert_close(moved["depth"][..., 4:], same["depth"][..., :-4], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(moved["intrinsics"][0, 0, 2], same["intrinsics"][0, 0, 2] + 4)


def test_a_scene_pool_builds_each_scene_once_and_gives_the_same_samples(monkeypatch):
    from muskie.data.synthetic import dataset as dataset_module

    built = []
    make = dataset_module.make_scene

    def counting(seed, config):
        built.append(seed)
        return make(seed, config)

    monkeypatch.setattr(dataset_module, "make_scene", counting)
    config = SyntheticConfig(num_frames=8)
    requests = [ViewRequest(index, 3, 16, 16, seed) for seed, index in enumerate([0, 1, 2, 0, 1, 2, 2, 0])]
    cold = SyntheticViewDataset(config=config, num_scenes=3, cache_scenes=1)
    cold_samples = [cold[r] for r in requests]
    assert len(built) == 7  # every change of scene rebuilds it: only the repeated 2 is kept
    built.clear()
    pool = SyntheticViewDataset(config=config, num_scenes=3, cache_scenes=3)
    pool_samples = [pool[r] for r in requests]
    assert sorted(built) == [0, 1, 2], "a pool builds each of its scenes once"
    for a, b in zip(cold_samples, pool_samples, strict=True):
        for key in ("images", "intrinsics", "cam_to_world", "depth", "valid"):
            assert torch.equal(a[key], b[key]), key
    small = SyntheticViewDataset(config=config, num_scenes=3, cache_scenes=2)
    for r in requests:
        small[r]
    assert len(small._scenes) == 2, "the cache never holds more than cache_scenes"


def test_scene_cache_is_checked():
    with pytest.raises(ValueError, match=r"cache_scenes must be in \[1, 4096\], got 0"):
        SyntheticViewDataset(num_scenes=3, cache_scenes=0)
