"""Batch streams under DDP: every rank's batch of a step has the same shape (checked across two gloo
processes), while ranks still read disjoint scenes."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from muskie.data.views import MultiViewBatchSampler
from muskie.train.streams import batch_stream

STEPS = 12


class _Shapes(torch.utils.data.Dataset):
    """A sample of the requested shape whose pixels hold the scene index."""

    def __getitem__(self, request):
        return {
            "images": torch.full((request.num_views, 3, request.height, request.width), float(request.index)),
            "scene": str(request.index),
        }


def _rank(rank, world_size, port, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    sampler = MultiViewBatchSampler(7, batch_size=2, num_views=(2, 8), sizes=[(8, 8), (16, 8), (8, 24)], seed=3)
    stream = batch_stream(_Shapes(), sampler, start=1, rank=rank, world_size=world_size)
    mine = []
    for _ in range(STEPS):
        batch = next(stream)
        views, _, height, width = batch.images.shape[1:]
        mine.append([views, height, width, *batch.images[:, 0, 0, 0, 0].long().tolist()])
    gathered = [None] * world_size
    dist.all_gather_object(gathered, mine)
    if rank == 0:
        torch.save(gathered, os.path.join(result_dir, "shapes.pt"))
    dist.destroy_process_group()


def test_ranks_agree_on_every_steps_shape_and_read_different_scenes(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_rank, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = torch.load(tmp_path / "shapes.pt", weights_only=True)
    assert [step[:3] for step in rank0] == [step[:3] for step in rank1]
    assert len({tuple(step[:3]) for step in rank0}) > 1, (
        "the shapes must vary between steps for the test to mean anything"
    )
    assert [step[3:] for step in rank0] != [step[3:] for step in rank1]
