"""muskie.data.batch: the typed batch of views, its collation and view permutation."""

import pytest
import torch

from muskie.data.batch import ViewBatch, collate_views


def _sample(views=3, size=4, name="s", cameras=True, depth=True):
    sample = {"images": torch.rand(views, 3, size, size) * 2 - 1, "scene": name}
    if cameras:
        sample["intrinsics"] = torch.eye(3).expand(views, 3, 3).clone()
        sample["cam_to_world"] = torch.eye(4).repeat(views, 1, 1)
        sample["cam_to_world"][:, 0, 3] = torch.arange(views, dtype=torch.float32)
    if depth:
        sample["depth"] = torch.arange(views, dtype=torch.float32)[:, None, None].expand(views, size, size).clone()
        sample["valid"] = sample["depth"] > 0
    return sample


def test_collate_names_every_per_view_field():
    batch = collate_views([_sample(name="a"), _sample(name="b")])
    assert batch.images.shape == (2, 3, 3, 4, 4) and batch.cam_to_world.shape == (2, 3, 4, 4)
    assert batch.depth.shape == (2, 3, 4, 4) and batch.valid.dtype == torch.bool
    assert batch.scenes == ["a", "b"] and batch.num_scenes == 2 and batch.num_views == 3
    assert batch.has_cameras and batch.has_depth


def test_a_field_missing_from_one_sample_is_none():
    batch = collate_views([_sample(), _sample(cameras=False, depth=False)])
    assert batch.intrinsics is None and batch.depth is None and not batch.has_cameras


def test_permute_views_moves_every_per_view_field_together():
    batch = collate_views([_sample(views=4, name="a"), _sample(views=4, name="b")])
    order = torch.tensor([[3, 2, 1, 0], [1, 0, 3, 2]])
    permuted = batch.permute_views(order)
    for b in range(2):
        for j in range(4):
            source = int(order[b, j])
            assert torch.equal(permuted.images[b, j], batch.images[b, source])
            assert permuted.cam_to_world[b, j, 0, 3] == source  # the pose follows its image
            assert torch.equal(permuted.depth[b, j], batch.depth[b, source])
            assert torch.equal(permuted.valid[b, j], batch.valid[b, source])
    assert permuted.scenes == ["a", "b"]
    with pytest.raises(ValueError, match="order must have shape"):
        batch.permute_views(order[:, :2])


def test_to_and_select_keep_the_fields():
    batch = collate_views([_sample(cameras=False)]).to("cpu")
    assert batch.intrinsics is None and batch.depth is not None
    sample = batch.select(0)
    assert set(sample) == {"images", "depth", "valid", "scene"}


def test_collate_refuses_nothing_and_mixed_shapes():
    with pytest.raises(ValueError, match="at least one"):
        collate_views([])
    with pytest.raises(ValueError, match="share"):
        collate_views([_sample(views=2), _sample(views=3)])
    assert isinstance(collate_views([_sample()]), ViewBatch)
