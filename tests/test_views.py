import dataclasses
import logging
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from muskie.data.batch import collate_views
from muskie.data.imageio import ImageReadError
from muskie.data.scene import Frame, Scene
from muskie.data.sources import read_image_folder, read_transforms_json, write_transforms_json
from muskie.data.undistort import undistort_view
from muskie.data.views import MultiViewBatchSampler, MultiViewDataset, ViewRequest, seed_worker
from muskie.geometry.distortion import LensDistortion, distort_normalized

HEIGHT, WIDTH = 20, 24


def make_scene(path, num_frames, with_depth=True):
    """A transforms.json scene whose frame i is a flat image of grey level i / 20 and depth i + 1 m."""
    images = torch.arange(num_frames, dtype=torch.float64).view(-1, 1, 1, 1).expand(-1, 3, HEIGHT, WIDTH) / 20
    intrinsics = np.tile(np.array([[30.0, 0, 11.5], [0, 30.0, 9.5], [0, 0, 1]]), (num_frames, 1, 1))
    poses = np.tile(np.eye(4), (num_frames, 1, 1))
    poses[:, 0, 3] = np.arange(num_frames)
    depth = torch.arange(1, num_frames + 1, dtype=torch.float64).view(-1, 1, 1).expand(-1, HEIGHT, WIDTH)
    write_transforms_json(path, images, intrinsics, poses, depth if with_depth else None)
    return read_transforms_json(path)


def frame_indices(sample):
    """Which frames a sample shows, read back from the grey levels."""
    grey = (sample["images"][:, 0].mean(dim=(1, 2)) * 0.5 + 0.5) * 20
    return torch.round(grey).long().tolist()


def test_sample_contract(tmp_path):
    dataset = MultiViewDataset([make_scene(tmp_path / "s", 6)], window=32)
    sample = dataset[ViewRequest(0, 3, 16, 8, seed=5)]
    assert sample["images"].shape == (3, 3, 16, 8) and sample["images"].dtype == torch.float32
    assert -1 <= sample["images"].min() and sample["images"].max() <= 1
    assert sample["intrinsics"].shape == (3, 3, 3) and sample["intrinsics"].dtype == torch.float32
    assert sample["cam_to_world"].shape == (3, 4, 4) and sample["cam_to_world"].dtype == torch.float32
    assert sample["depth"].shape == (3, 16, 8) and sample["valid"].dtype == torch.bool and sample["valid"].all()
    assert sample["scene"] == "s"
    picks = frame_indices(sample)
    # poses and depths belong to the frames shown
    np.testing.assert_array_equal(sample["cam_to_world"][:, 0, 3].numpy(), picks)
    np.testing.assert_allclose(sample["depth"][:, 0, 0].numpy(), np.array(picks) + 1.0, atol=1e-6)
    # a 10x20 to 9x18 crop (area 0.8-1 of the largest 1:2 crop) resized to 8x16 scales the focal length by 0.8-0.89
    focal = sample["intrinsics"][:, [0, 1], [0, 1]]
    assert torch.all((30 * 0.8 - 1e-4 <= focal) & (focal <= 30 * 16 / 18 + 1e-4))


def test_views_drawn_without_replacement_from_one_window(tmp_path):
    dataset = MultiViewDataset([make_scene(tmp_path / "s", 12)], window=4)
    starts = set()
    for seed in range(20):
        picks = frame_indices(dataset[ViewRequest(0, 3, 8, 8, seed)])
        assert picks == sorted(set(picks)) and len(picks) == 3
        assert picks[-1] - picks[0] < 4
        starts.add(picks[0])
    assert len(starts) > 3


def test_deterministic_given_request(tmp_path):
    dataset = MultiViewDataset([make_scene(tmp_path / "s", 8)], crop_scale=(0.5, 1.0))
    first, second = dataset[ViewRequest(0, 4, 8, 8, 11)], dataset[ViewRequest(0, 4, 8, 8, 11)]
    for key in ("images", "intrinsics", "depth"):
        assert torch.equal(first[key], second[key])
    other = dataset[ViewRequest(0, 4, 8, 8, 12)]
    assert not torch.equal(first["intrinsics"], other["intrinsics"])


def test_too_few_frames_raises_naming_the_scene(tmp_path):
    dataset = MultiViewDataset([make_scene(tmp_path / "small", 2)], skip_bad=False)
    with pytest.raises(ValueError, match="scene small .* 2 frames, fewer than the 3 views"):
        dataset[ViewRequest(0, 3, 8, 8, 0)]


def test_too_few_frames_skipped_with_count_and_deterministic_replacement(tmp_path, caplog):
    scenes = [make_scene(tmp_path / "small", 2), make_scene(tmp_path / "big", 5)]
    dataset = MultiViewDataset(scenes)
    with caplog.at_level(logging.WARNING, logger="muskie.data.views"):
        sample = dataset[ViewRequest(0, 3, 8, 8, 0)]
        again = dataset[ViewRequest(0, 3, 8, 8, 0)]
    assert sample["scene"] == "big" and torch.equal(sample["images"], again["images"])
    assert dataset.num_skipped == 2
    assert "2 skipped so far" in caplog.records[-1].getMessage()


def test_corrupt_image_skipped_or_raised(tmp_path):
    scene = make_scene(tmp_path / "bad", 2)
    scene.frames[1].image_path.write_bytes(scene.frames[1].image_path.read_bytes()[:40])
    good = make_scene(tmp_path / "good", 3)
    with pytest.raises(ImageReadError, match="001.png"):
        MultiViewDataset([scene], skip_bad=False)[ViewRequest(0, 2, 8, 8, 0)]
    dataset = MultiViewDataset([scene, good])
    assert dataset[ViewRequest(0, 2, 8, 8, 0)]["scene"] == "good" and dataset.num_skipped == 1
    with pytest.raises(RuntimeError, match="no loadable sample"):
        MultiViewDataset([scene], max_replacements=3)[ViewRequest(0, 2, 8, 8, 0)]


def test_missing_image_skipped(tmp_path):
    scene = make_scene(tmp_path / "gone", 2)
    scene.frames[0].image_path.unlink()
    dataset = MultiViewDataset([scene, make_scene(tmp_path / "good", 2)])
    assert dataset[ViewRequest(0, 2, 8, 8, 0)]["scene"] == "good"


def test_image_only_scene_and_mixed_collation(tmp_path):
    make_scene(tmp_path / "cams", 3, with_depth=False)
    plain = read_image_folder(tmp_path / "cams" / "images")
    dataset = MultiViewDataset([read_transforms_json(tmp_path / "cams"), plain])
    sample = dataset[ViewRequest(1, 2, 8, 8, 0)]
    assert set(sample) == {"images", "scene"}
    batch = collate_views([dataset[ViewRequest(0, 2, 8, 8, 0)], sample])
    assert not batch.has_cameras and not batch.has_depth and batch.images.shape == (2, 2, 3, 8, 8)
    assert batch.scenes == ["cams", "images"]


def test_collate_stacks_and_rejects_mixed_shapes(tmp_path):
    dataset = MultiViewDataset([make_scene(tmp_path / "s", 4)])
    batch = collate_views([dataset[ViewRequest(0, 2, 8, 16, s)] for s in range(3)])
    assert batch.images.shape == (3, 2, 3, 8, 16) and batch.depth.shape == (3, 2, 8, 16)
    assert batch.intrinsics.shape == (3, 2, 3, 3)
    with pytest.raises(ValueError, match="share"):
        collate_views([dataset[ViewRequest(0, 2, 8, 16, 0)], dataset[ViewRequest(0, 3, 8, 16, 0)]])


def test_bad_requests(tmp_path):
    dataset = MultiViewDataset([make_scene(tmp_path / "s", 2)])
    with pytest.raises(IndexError):
        dataset[ViewRequest(1, 2, 8, 8, 0)]
    with pytest.raises(TypeError, match="ViewRequest"):
        dataset[0]
    with pytest.raises(ValueError, match="at least one scene"):
        MultiViewDataset([])


def test_sampler_groups_batches_by_shape():
    sampler = MultiViewBatchSampler(50, 4, num_views=(2, 5), sizes=[(16, 16), (16, 24)], seed=3, drop_last=False)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 13
    assert sorted(r.index for batch in batches for r in batch) == list(range(50))
    shapes = set()
    for batch in batches:
        assert len({(r.num_views, r.height, r.width) for r in batch}) == 1
        shapes.add((batch[0].num_views, batch[0].height, batch[0].width))
        assert 2 <= batch[0].num_views <= 5
    assert len(shapes) > 3
    assert len({r.seed for batch in batches for r in batch}) == 50
    assert len(MultiViewBatchSampler(50, 4)) == 12


def test_sampler_views_forms():
    fixed = MultiViewBatchSampler(10, 2, num_views=3)
    assert {b[0].num_views for b in fixed} == {3}
    choices = MultiViewBatchSampler(100, 2, num_views=[2, 8])
    assert {b[0].num_views for b in choices} == {2, 8}
    with pytest.raises(ValueError, match="num_views"):
        MultiViewBatchSampler(10, 2, num_views=[0, 2])
    with pytest.raises(ValueError, match="sizes"):
        MultiViewBatchSampler(10, 2, sizes=[])


def test_sampler_deterministic_per_seed_and_epoch():
    def epoch(seed, number):
        sampler = MultiViewBatchSampler(30, 3, seed=seed)
        sampler.set_epoch(number)
        return list(sampler)

    assert epoch(0, 1) == epoch(0, 1)
    assert epoch(0, 1) != epoch(0, 2)
    assert epoch(0, 1) != epoch(1, 1)
    unshuffled = MultiViewBatchSampler(6, 2, shuffle=False)
    assert [r.index for batch in unshuffled for r in batch] == list(range(6))


def test_dataloader_end_to_end(tmp_path):
    dataset = MultiViewDataset([make_scene(tmp_path / f"s{i}", 4) for i in range(4)])
    sampler = MultiViewBatchSampler(len(dataset), 2, num_views=(2, 3), sizes=[(8, 8), (8, 16)], seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_views, worker_init_fn=seed_worker)
    batches = list(loader)
    assert len(batches) == 2
    for batch, requests in zip(batches, sampler.epoch_batches(0), strict=True):
        request = requests[0]
        assert batch.images.shape == (2, request.num_views, 3, request.height, request.width)


def test_seed_worker_derives_python_and_numpy_seeds_from_torch():
    draws = []
    for _ in range(2):
        torch.manual_seed(1234)
        seed_worker(0)
        draws.append((random.random(), np.random.rand()))
    assert draws[0] == draws[1]
    torch.manual_seed(99)
    seed_worker(0)
    assert (random.random(), np.random.rand()) != draws[0]


# ------------------------------------------------------------------------------------------ undistortion

LENS_K = np.array([[80.0, 0.0, 31.5], [0.0, 80.0, 23.5], [0.0, 0.0, 1.0]])


def scene_colour(x, y):
    """The scene's colour along the ray of ideal normalised coordinates (x, y): smooth, in [0.1, 0.9]."""
    return 0.5 + 0.4 * np.sin(20 * x) * np.cos(16 * y)


def scene_depth(x, y):
    """z-depth of a tilted plane seen along (x, y): the plane 0.3 X + 0.2 Y + Z = 2."""
    return 2.0 / (1.0 + 0.3 * x + 0.2 * y)


def ideal_coordinates(u, v, distortion, size):
    """The ideal normalised coordinates a distorted camera (LENS_K at ``size = (H, W)``, a scaled copy of
    48x64) images at its pixels (u, v): the distortion inverted by fixed-point iteration, to 1e-12."""
    scale = size[1] / 64
    x_d = ((u + 0.5) / scale - 0.5 - LENS_K[0, 2]) / LENS_K[0, 0]
    y_d = ((v + 0.5) / scale - 0.5 - LENS_K[1, 2]) / LENS_K[1, 1]
    x, y = x_d.copy(), y_d.copy()
    for _ in range(200):
        fx, fy = distort_normalized(x, y, distortion)
        x, y = x - (fx - x_d), y - (fy - y_d)
    fx, fy = distort_normalized(x, y, distortion)
    assert max(np.abs(fx - x_d).max(), np.abs(fy - y_d).max()) < 1e-12
    return x, y


def distorted_scene(root, distortion, depth_size=(48, 64)):
    """One frame photographed through ``distortion``: an 8-bit PNG of ``scene_colour`` and a float32 .npy of
    ``scene_depth`` at ``depth_size`` (a scaled copy of the image's 48x64)."""
    root.mkdir(parents=True)
    v, u = np.mgrid[0:48, 0:64].astype(np.float64)
    colour = scene_colour(*ideal_coordinates(u, v, distortion, (48, 64)))
    Image.fromarray(np.round(np.repeat(colour[..., None], 3, -1) * 255).astype(np.uint8)).save(root / "a.png")
    v, u = np.mgrid[0 : depth_size[0], 0 : depth_size[1]].astype(np.float64)
    np.save(root / "a.npy", scene_depth(*ideal_coordinates(u, v, distortion, depth_size)).astype(np.float32))
    frame = Frame(root / "a.png", 64, 48, LENS_K, np.eye(4), depth_path=root / "a.npy", distortion=distortion)
    return Scene("lens", root, [frame])


@pytest.mark.parametrize("depth_size", [(48, 64), (24, 32)])
def test_distorted_view_is_undistorted_into_its_pinhole_camera(tmp_path, depth_size):
    distortion = LensDistortion("OPENCV", (-0.25, 0.05, 0.002, -0.001))  # barrel: every pinhole ray is imaged
    scene = distorted_scene(tmp_path / "s", distortion, depth_size)
    sample = MultiViewDataset([scene], crop_scale=(1.0, 1.0))[ViewRequest(0, 1, 48, 64, seed=0)]
    v, u = np.mgrid[0:48, 0:64].astype(np.float64)
    x, y = (u - LENS_K[0, 2]) / LENS_K[0, 0], (v - LENS_K[1, 2]) / LENS_K[1, 1]
    image = sample["images"][0, 0].double().numpy() * 0.5 + 0.5
    # bilinear sampling of a smooth image plus 8-bit rounding; the distorted image itself is far from it
    assert np.abs(image - scene_colour(x, y)).max() < 0.015
    distorted = np.asarray(Image.open(scene.frames[0].image_path))[..., 0] / 255
    assert np.abs(distorted - scene_colour(x, y)).max() > 0.1
    # nearest-neighbour depth: off by at most the plane's change over one (depth) pixel
    assert sample["valid"].all()
    np.testing.assert_allclose(sample["depth"][0].double().numpy(), scene_depth(x, y), rtol=0.02)
    np.testing.assert_array_equal(sample["intrinsics"][0].numpy(), LENS_K.astype(np.float32))


def test_pincushion_corners_without_a_source_pixel_are_black_and_without_depth(tmp_path):
    scene = distorted_scene(tmp_path / "s", LensDistortion("OPENCV", (0.4, 0.0, 0.0, 0.0)))
    sample = MultiViewDataset([scene], crop_scale=(1.0, 1.0))[ViewRequest(0, 1, 48, 64, seed=0)]
    # the corner's ray, (x, y) = (-0.39, -0.29), is imaged at r_d = r (1 + 0.4 r^2) = 1.094 r: outside
    assert not sample["valid"][0, 0, 0] and sample["images"][0, :, 0, 0].eq(-1).all()
    assert sample["valid"][0, 24, 32] and sample["valid"][0].float().mean() > 0.8


def test_depth_that_is_no_scaled_copy_of_the_image_is_refused(tmp_path):
    scene = distorted_scene(tmp_path / "s", LensDistortion("OPENCV", (0.0, 0.0, 0.0, 0.0)), depth_size=(24, 40))
    with pytest.raises(ValueError, match=r"a\.npy: depth is 40x24, neither the image's size 64x48"):
        MultiViewDataset([scene], skip_bad=False)[ViewRequest(0, 1, 48, 64, seed=0)]


def test_rays_past_the_fold_of_a_strong_barrel_model_have_no_source(tmp_path):
    # r_d = r (1 + k1 r^2) with k1 = -0.6 stops growing at r = 1 / sqrt(1.8) = 0.745: rays beyond would land
    # back inside the image (the corner's r = 0.98 gives r_d = 0.41) and must be refused, not sampled
    k = np.array([[40.0, 0.0, 31.5], [0.0, 40.0, 23.5], [0.0, 0.0, 1.0]])
    image = torch.full((3, 48, 64), 0.5)
    out, depth = undistort_view(image, k, LensDistortion("RADIAL", (-0.6, 0.0)), torch.ones(48, 64))
    v, u = np.mgrid[0:48, 0:64]
    radius = np.hypot((u - 31.5) / 40, (v - 23.5) / 40)
    valid = depth.numpy() > 0
    assert valid[radius < 0.745 - 0.03].all() and not valid[radius > 0.745 + 0.03].any()
    assert np.allclose(out[:, valid], 0.5) and np.all(out[:, ~valid].numpy() == 0)


def test_images_only_reads_no_depth_file(tmp_path):
    scene = make_scene(tmp_path / "s", 4)
    for frame in scene.frames:
        frame.depth_path.unlink()
    sample = MultiViewDataset([scene], images_only=True, skip_bad=False)[ViewRequest(0, 2, 8, 8, 0)]
    assert set(sample) == {"images", "scene"}
    with pytest.raises(FileNotFoundError):
        MultiViewDataset([scene], skip_bad=False)[ViewRequest(0, 2, 8, 8, 0)]


def test_neighbour_views_come_from_the_listed_partners(tmp_path):
    scene = make_scene(tmp_path / "s", 12)
    scene.neighbours = {0: [7, 11, 3], 5: [1]}  # only frame 0 lists the 2 partners 3 views need
    dataset = MultiViewDataset([scene], window=2, views="neighbours")
    shown = [frame_indices(dataset[ViewRequest(0, 3, 8, 8, seed)]) for seed in range(12)]
    assert all(picks[0] == 0 and set(picks[1:]) <= {7, 11, 3} and len(set(picks)) == 3 for picks in shown)
    assert len({tuple(p) for p in shown}) > 1
    # two views: frame 5 qualifies too; without neighbours the window is used
    assert {frame_indices(dataset[ViewRequest(0, 2, 8, 8, s)])[0] for s in range(20)} == {0, 5}
    scene.neighbours = {}
    picks = frame_indices(dataset[ViewRequest(0, 2, 8, 8, 0)])
    assert picks[1] - picks[0] == 1


def test_object_zoom_frames_the_mask(tmp_path):
    from PIL import Image

    scene = make_scene(tmp_path / "s", 3)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[4:10, 12:18] = 255  # a 6x6 object box
    for frame in scene.frames:
        Image.fromarray(mask).save(frame.image_path.with_suffix(".mask.png"))
    scene.frames = [dataclasses.replace(f, mask_path=f.image_path.with_suffix(".mask.png")) for f in scene.frames]
    zoomed = MultiViewDataset([scene], object_zoom=1.0, crop_scale=(1, 1))[ViewRequest(0, 2, 8, 8, 0)]
    plain = MultiViewDataset([scene], object_zoom=0.0, crop_scale=(1, 1))[ViewRequest(0, 2, 8, 8, 0)]
    # the zoomed crop is the 6x6 box and a 0.6 px margin (rounded to 7x7) resized to 8x8: focal 30 * 8 / 7
    np.testing.assert_allclose(zoomed["intrinsics"][:, 0, 0].numpy(), 30 * 8 / 7, rtol=1e-5)
    assert torch.all(plain["intrinsics"][:, 0, 0] < 30 * 8 / 19)
    share = [
        MultiViewDataset([scene], object_zoom=0.5)[ViewRequest(0, 2, 8, 8, s)]["intrinsics"][0, 0, 0] > 20
        for s in range(40)
    ]
    assert 10 < sum(share) < 30
