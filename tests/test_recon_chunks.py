"""Long captures in chunks (muskie.recon.chunks): the chunk layout, and chunks that are the ground truth
under known similarities re-assembled into the first chunk's frame (float64)."""

import numpy as np
import pytest
import torch
from fixtures import capture_seen_through, known_capture, random_rotation

from muskie.geometry import umeyama
from muskie.model import MuskieBackbone
from muskie.model.config import preset_config
from muskie.recon.chunks import assemble_chunks, checked_overlap, chunk_ranges
from muskie.recon.config import ReconModelConfig
from muskie.recon.model import ReconModel
from muskie.recon.predict import predict_capture, predict_views


def test_chunks_share_the_asked_views_and_the_last_ends_at_the_last_view():
    as_lists = lambda ranges: [list(r) for r in ranges]  # noqa: E731
    assert as_lists(chunk_ranges(10, 4, 2)) == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    assert as_lists(chunk_ranges(11, 4, 2))[-2:] == [[6, 7, 8, 9], [7, 8, 9, 10]], "full length, 3 shared"
    assert as_lists(chunk_ranges(5, 4, 1)) == [[0, 1, 2, 3], [1, 2, 3, 4]]
    assert as_lists(chunk_ranges(3, 4, 2)) == [[0, 1, 2]], "a short capture is one chunk"
    assert checked_overlap(9) == 3 and checked_overlap(2) == 1
    for chunk_views, overlap, message in ((1, None, "at least 2"), (4, 0, "between 1 and"), (4, 4, "between 1 and")):
        with pytest.raises(ValueError, match=message):
            chunk_ranges(10, chunk_views, overlap)


def random_similarity(rng) -> np.ndarray:
    """A 4x4 similarity: scale in [1/e, e], any rotation, translation ~ N(0, 9)."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.exp(rng.uniform(-1, 1)) * random_rotation(rng)
    matrix[:3, 3] = rng.normal(scale=3.0, size=3)
    return matrix


def test_chunks_under_known_similarities_are_reassembled_in_the_first_chunks_frame():
    rng = np.random.default_rng(0)
    truth = known_capture(rng)
    ranges = chunk_ranges(9, 4, 2)  # views 0-3, 2-5, 4-7, 5-8
    frames = [random_similarity(rng) for _ in ranges]
    chunks = [capture_seen_through(truth, list(views), frame) for views, frame in zip(ranges, frames, strict=True)]
    assembled = assemble_chunks(iter(chunks), ranges)
    expected = capture_seen_through(truth, list(range(9)), frames[0])
    assert assembled.names == [f"v{v}" for v in range(9)]
    for field in ("points", "local_points", "cam_to_world", "confidence", "intrinsics", "images"):
        got, want = getattr(assembled, field), getattr(expected, field)
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, want, atol=1e-9, rtol=0, msg=field)
    torch.testing.assert_close(assembled.depth, expected.depth, atol=1e-9, rtol=0)


def test_the_fit_on_shared_frames_is_weighted_by_confidence():
    rng = np.random.default_rng(1)
    truth = known_capture(rng, num_views=6)
    ranges = chunk_ranges(6, 4, 2)
    frames = [random_similarity(rng) for _ in ranges]
    chunks = [capture_seen_through(truth, list(views), frame) for views, frame in zip(ranges, frames, strict=True)]
    # the second chunk's first shared view is wrong in half its pixels, which it is not confident about
    wrong = torch.zeros(5, 6, dtype=torch.bool)
    wrong[:, :3] = True
    chunks[1].points[0][wrong] += torch.from_numpy(rng.normal(scale=5.0, size=(int(wrong.sum()), 3)))
    chunks[1].confidence[0][wrong] = 1e-12
    assembled = assemble_chunks(chunks, ranges)
    expected = capture_seen_through(truth, list(range(6)), frames[0])
    torch.testing.assert_close(assembled.points[4:], expected.points[4:], atol=1e-6, rtol=0)
    torch.testing.assert_close(assembled.cam_to_world[4:], expected.cam_to_world[4:], atol=1e-6, rtol=0)
    # an unweighted fit of the same points would be far off: the weights are what the test checks
    source = chunks[1].points[:2].reshape(-1, 3).numpy()
    target = chunks[0].points[2:].reshape(-1, 3).numpy()
    assert (
        abs(
            umeyama(source, target).scale
            - umeyama(
                source, target, weights=(chunks[1].confidence[:2] * chunks[0].confidence[2:]).reshape(-1).numpy()
            ).scale
        )
        > 1e-2
    )


def test_assembly_refuses_chunks_that_do_not_fit_their_ranges():
    truth = known_capture(np.random.default_rng(2), num_views=6)
    chunks = [capture_seen_through(truth, [0, 1, 2], np.eye(4)), capture_seen_through(truth, [3, 4, 5], np.eye(4))]
    with pytest.raises(ValueError, match=r"chunk 1 \(views 3-5\) shares no view"):
        assemble_chunks(chunks, [range(0, 3), range(3, 6)])
    with pytest.raises(ValueError, match="chunk 0 holds 3 views, its range 4"):
        assemble_chunks(chunks, [range(0, 4), range(3, 6)])
    with pytest.raises(ValueError, match="1 chunk predictions for 2 chunks"):
        assemble_chunks(chunks[:1], [range(0, 3), range(2, 5)])


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    backbone = MuskieBackbone(preset_config("tiny", embed_dim=32, depth=2, num_heads=2, patch_size=8))
    return ReconModel(backbone, ReconModelConfig(dpt_dim=16, camera_dim=16)).eval()


def test_a_whole_capture_in_one_chunk_is_the_one_pass_prediction(tiny_model):
    images = torch.rand(5, 3, 16, 24, generator=torch.Generator().manual_seed(3))
    names = [f"i{v}" for v in range(5)]
    whole = predict_views(tiny_model, images, names)
    for chunk_views in (None, 5, 9):
        one = predict_capture(tiny_model, images, names, chunk_views=chunk_views)
        for field in ("points", "local_points", "confidence", "cam_to_world", "intrinsics"):
            assert torch.equal(getattr(one, field), getattr(whole, field)), (chunk_views, field)
    chunked = predict_capture(tiny_model, images, names, chunk_views=3, chunk_overlap=1)
    first = predict_views(tiny_model, images[:3], names[:3])
    assert chunked.names == names and chunked.points.shape == whole.points.shape
    for field in ("points", "local_points", "confidence", "cam_to_world"):
        assert torch.equal(getattr(chunked, field)[:3], getattr(first, field)), "the first chunk sets the frame"
    assert torch.isfinite(chunked.points).all()
    with pytest.raises(ValueError, match="between 1 and"):
        predict_capture(tiny_model, images, names, chunk_views=9, chunk_overlap=9)
