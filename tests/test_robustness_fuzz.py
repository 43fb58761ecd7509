"""Fuzzing with hypothesis: scene loaders fed random bytes, JSON structures and COLMAP lines raise only
ValueError / FileNotFoundError naming a file; crops keep shapes and intrinsics consistent with the content;
the batch sampler and the resumable batch streams keep their promises for any sizes and seeds.
(Masks are fuzzed in ``tests/test_masking.py``.)"""

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from muskie.data.sources import read_colmap_scene, read_transforms_json
from muskie.data.transforms import crop_and_resize, sample_crop
from muskie.data.views import MultiViewBatchSampler
from muskie.train.streams import batch_stream

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_clear_error(error: Exception, folder: Path, files: tuple[str, ...]) -> None:
    """Only the documented error types, and the message names one of the scene's ``files`` or starts with a
    path in the scene folder (an image, or the folder itself)."""
    assert isinstance(error, (ValueError, FileNotFoundError)), f"{type(error).__name__}: {error}"
    message = str(error)
    assert any(str(folder / name) in message for name in files) or message.startswith(str(folder)), message


# ---------------------------------------------------------------------------------------- transforms.json

numbers = st.one_of(
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 32, 1e308, 10**400]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=20,
)


def mostly(valid, fuzz):
    """The valid value or a fuzzed one, so that examples reach past the first check."""
    return st.one_of(st.just(valid), fuzz)


matrices = st.one_of(json_values, st.lists(st.lists(numbers, min_size=4, max_size=4), min_size=3, max_size=4))
CAMERA_KEYS = ("fl_y", "cx", "cy", "camera_angle_x", "k1", "depth_unit_scale_factor")
frames = st.fixed_dictionaries(
    {
        "file_path": mostly("a.png", st.one_of(st.sampled_from(["images/0", "", "../x.png"]), json_values)),
        "transform_matrix": mostly(np.eye(4).tolist(), matrices),
    },
    optional={"depth_file_path": json_values, **{key: numbers for key in ("fl_x", "w", "h", *CAMERA_KEYS)}},
)
metas = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "frames": mostly([], st.one_of(st.lists(frames, min_size=1, max_size=3), json_values)),
            "fl_x": mostly(10, numbers),
            "w": mostly(4, numbers),
            "h": mostly(4, numbers),
        },
        optional={key: st.one_of(numbers, json_values) for key in CAMERA_KEYS},
    ),
)


def read_transforms_text(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "transforms.json").write_bytes(data)
        try:
            scene = read_transforms_json(folder)
        except Exception as error:  # noqa: BLE001 - the point is which types escape
            assert_clear_error(error, Path(folder), ("transforms.json",))
        else:
            for frame in scene.frames:
                assert np.isfinite(frame.intrinsics).all() and np.isfinite(frame.cam_to_world).all()
                assert frame.intrinsics[0, 0] > 0 and frame.intrinsics[1, 1] > 0


@FUZZ
@given(data=st.binary(max_size=300))
def test_transforms_json_random_bytes(data):
    read_transforms_text(data)


# what fuzzing found (each escaped as another exception type before its fix): pinned as examples
@FUZZ
@given(meta=metas)
@example(meta={"fl_x": 10, "w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": [[10**400] * 4] * 4}]})
@example(meta={"fl_x": 10**400, "w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": [[1] * 4] * 4}]})
@example(
    meta={"camera_angle_x": 0, "w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": [[1] * 4] * 4}]}
)
def test_transforms_json_random_structures(meta):
    read_transforms_text(json.dumps(meta).encode())


# ------------------------------------------------------------------------------------------ COLMAP text

tokens = st.one_of(
    st.sampled_from(
        [
            "1",
            "2",
            "0",
            "-1",
            "8",
            "PINHOLE",
            "SIMPLE_RADIAL",
            "OPENCV_FISHEYE",
            "nan",
            "inf",
            "1e400",
            "0.5",
            "a.png",
            "#",
            "99999999999999999999",
        ]
    ),
    st.integers(-5, 1000).map(str),
    st.floats(allow_nan=True).map(repr),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
)
values = st.one_of(st.sampled_from(["0", "1", "4", "10", "-3", "nan", "inf", "1e400"]), st.floats().map(repr))
lines = st.lists(tokens, max_size=12).map(" ".join)
# well-formed lines with fuzzed values, random lines, and known-good lines
camera_lines = st.one_of(
    lines,
    st.just("1 PINHOLE 8 8 10 10 4 4"),
    st.tuples(
        st.sampled_from(["1", "2"]),
        st.sampled_from(["PINHOLE", "SIMPLE_PINHOLE", "OPENCV", "FOV"]),
        values,
        values,
        st.lists(values, min_size=3, max_size=8),
    ).map(lambda t: " ".join([*t[:4], *t[4]])),
)
image_lines = st.one_of(
    lines,
    st.just("1 1 0 0 0 0 0 0 1 a.png"),
    st.just(""),
    st.tuples(
        st.sampled_from(["1", "2"]),
        st.lists(values, min_size=7, max_size=7),
        st.sampled_from(["1", "2"]),
        st.sampled_from(["a.png", "b c.png"]),
    ).map(lambda t: " ".join([t[0], *t[1], t[2], t[3]])),
)


@FUZZ
@given(cameras=st.lists(camera_lines, max_size=4), images=st.lists(image_lines, max_size=6))
@example(cameras=["1 PINHOLE 8 8 nan 10 4 4"], images=["1 1 0 0 0 0 0 0 1 a.png", ""])
@example(cameras=["1 PINHOLE 8 8 10 10 4 4"], images=["1 0 0 0 0 0 0 0 1 a.png", ""])
def test_colmap_text_random_lines(cameras, images):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cameras.txt").write_text("\n".join(cameras))
        (Path(folder) / "images.txt").write_text("\n".join(images))
        try:
            scene = read_colmap_scene(folder)
        except Exception as error:  # noqa: BLE001 - the point is which types escape
            assert_clear_error(error, Path(folder), ("cameras.txt", "images.txt"))
        else:
            assert all(np.isfinite(frame.cam_to_world).all() for frame in scene.frames)


# ------------------------------------------------------------------------------------------ transforms


@FUZZ
@given(
    in_h=st.integers(1, 48),
    in_w=st.integers(1, 48),
    out_h=st.integers(1, 40),
    out_w=st.integers(1, 40),
    low=st.floats(0.05, 1.0),
    spread=st.floats(0.0, 1.0),
    fx=st.floats(1.0, 200.0),
    fy=st.floats(1.0, 200.0),
    cx=st.floats(-20.0, 70.0),
    cy=st.floats(-20.0, 70.0),
    seed=st.integers(0, 2**31),
)
def test_crop_shapes_and_intrinsics_follow_the_content(in_h, in_w, out_h, out_w, low, spread, fx, fy, cx, cy, seed):
    scale = (low, low + (1.0 - low) * spread)
    box = sample_crop((in_h, in_w), (out_h, out_w), scale, torch.Generator().manual_seed(seed))
    assert 0 <= box.top and box.top + box.height <= in_h and 0 <= box.left and box.left + box.width <= in_w
    assert box.height >= 1 and box.width >= 1

    # channel 0 holds each pixel's column, channel 1 its row: the content says where it came from
    rows, cols = torch.meshgrid(
        torch.arange(in_h, dtype=torch.float64), torch.arange(in_w, dtype=torch.float64), indexing="ij"
    )
    extent = max(in_h, in_w)
    image = torch.stack([cols, rows, torch.zeros_like(rows)]) / extent
    k = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)
    out, k_out, _ = crop_and_resize(image, box, (out_h, out_w), k)
    assert out.shape == (3, out_h, out_w) and k_out.dtype == torch.float64

    # a 3D point projecting onto output pixel (u', v') projects, with the input K, onto the source position
    # of that pixel; away from the crop's edges (no border effects) the ramps show that position
    u_out, v_out = (out_w - 1) / 2, (out_h - 1) / 2
    point = torch.linalg.solve(k_out, torch.tensor([u_out, v_out, 1.0], dtype=torch.float64)) * 3.0
    u_in, v_in = (k @ point)[:2] / (k @ point)[2]
    np.testing.assert_allclose(u_in, (u_out + 0.5) * box.width / out_w - 0.5 + box.left, atol=1e-9)
    np.testing.assert_allclose(v_in, (v_out + 0.5) * box.height / out_h - 0.5 + box.top, atol=1e-9)
    margin_x, margin_y = box.width / out_w + 1, box.height / out_h + 1
    if (
        out_w % 2
        and out_h % 2
        and min(u_in - box.left, box.left + box.width - 1 - u_in) >= margin_x
        and min(v_in - box.top, box.top + box.height - 1 - v_in) >= margin_y
    ):
        pixel = out[:, out_h // 2, out_w // 2] * extent
        np.testing.assert_allclose(pixel[:2].numpy(), [u_in, v_in], atol=1e-3 * extent)


# ------------------------------------------------------------------------------------ batches and streams

sampler_args = st.fixed_dictionaries(
    {
        "num_samples": st.integers(1, 30),
        "batch_size": st.integers(1, 7),
        "num_views": st.one_of(
            st.integers(1, 8),
            st.tuples(st.integers(1, 4), st.integers(4, 8)),
            st.lists(st.integers(1, 64), min_size=1, max_size=4),
        ),
        "sizes": st.lists(st.tuples(st.integers(1, 64), st.integers(1, 64)), min_size=1, max_size=3),
        "seed": st.integers(0, 2**40),
        "drop_last": st.booleans(),
    }
)


@FUZZ
@given(args=sampler_args, epoch=st.integers(0, 1000))
def test_batch_sampler_invariants(args, epoch):
    sampler = MultiViewBatchSampler(**args)
    views = args["num_views"]
    allowed_views = (
        {views}
        if isinstance(views, int)
        else set(range(views[0], views[1] + 1))
        if isinstance(views, tuple)
        else set(views)
    )
    batches = sampler.epoch_batches(epoch)
    assert len(batches) == len(sampler)
    indices = [request.index for batch in batches for request in batch]
    assert len(indices) == len(set(indices)), "each scene at most once per epoch"
    full = args["num_samples"] // args["batch_size"] * args["batch_size"]
    assert len(indices) == (full if args["drop_last"] else args["num_samples"])
    for batch in batches:
        assert 1 <= len(batch) <= args["batch_size"]
        assert len({(r.num_views, r.height, r.width) for r in batch}) == 1, "one (V, H, W) per batch"
        assert batch[0].num_views in allowed_views and (batch[0].height, batch[0].width) in args["sizes"]
    assert MultiViewBatchSampler(**args).epoch_batches(epoch) == batches, "a function of (seed, epoch)"
    sampler.set_epoch(epoch)
    assert list(sampler) == batches


class _Requests(torch.utils.data.Dataset):
    """Echoes its request: ``images (V, 3, 1, 1)`` filled with the scene index, ``scene`` the seed."""

    def __getitem__(self, request):
        return {"images": torch.full((request.num_views, 3, 1, 1), float(request.index)), "scene": str(request.seed)}


@FUZZ
@given(
    num_samples=st.integers(1, 12),
    batch_size=st.integers(1, 3),
    world_size=st.integers(1, 3),
    start=st.integers(0, 9),
    count=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_resumed_streams_read_the_batches_of_an_uninterrupted_run(
    num_samples, batch_size, world_size, start, count, seed
):
    def sampler():
        return MultiViewBatchSampler(num_samples, batch_size, num_views=(1, 3), sizes=[(1, 1)], seed=seed)

    per_epoch = len(sampler())
    if per_epoch == 0:
        return
    epochs = math.ceil(((start + count) * world_size) / per_epoch) + 1
    timeline = [batch for epoch in range(epochs) for batch in sampler().epoch_batches(epoch)]
    for rank in range(world_size):
        stream = batch_stream(_Requests(), sampler(), start, rank, world_size)
        for position in range(start, start + count):
            expected = timeline[position * world_size + rank]
            batch = next(stream)
            assert batch.scenes == [str(r.seed) for r in expected]
            assert batch.images[:, 0, 0, 0, 0].tolist() == [float(r.index) for r in expected]
            # every rank's batch of a step takes the shape drawn for the step's first global batch
            assert batch.images.shape[1] == timeline[position * world_size][0].num_views
