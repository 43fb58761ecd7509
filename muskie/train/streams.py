"""Endless, resumable streams of multi-view batches for the training loop.

A stream is addressed by a *global batch index*: batch ``b`` is batch ``b % n`` of epoch ``b // n`` of a
:class:`~muskie.data.views.MultiViewBatchSampler` with ``n`` batches per epoch. Rank ``r`` of ``W`` processes
takes global batches ``r, r + W, r + 2W, ...``, so ranks see disjoint data, and a run resumed at any step
reads exactly the batches an uninterrupted run would have read. The ``W`` batches of one step (global batches
``sW .. sW + W - 1``) all take the shape (views and image size) drawn for the first of them, so under DDP no
rank waits for another that drew more views or a larger size; with one process every batch keeps its own.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from muskie.data.batch import ViewBatch, collate_views
from muskie.data.views import MultiViewBatchSampler, ViewRequest, seed_worker


def _shape(batch: list[ViewRequest]) -> tuple[int, int, int]:
    return batch[0].num_views, batch[0].height, batch[0].width


class _GlobalBatchSampler:
    """Yields the request lists of global batches ``start, start + stride, ...`` forever, each in the shape of
    its step's first global batch (``index - index % stride``)."""

    def __init__(self, sampler: MultiViewBatchSampler, start: int, stride: int):
        self.sampler = sampler
        self.start = start
        self.stride = stride
        self._shapes: dict[int, list[tuple[int, int, int]]] = {}

    def _step_shape(self, index: int, per_epoch: int) -> tuple[int, int, int]:
        epoch, offset = divmod(index - index % self.stride, per_epoch)
        if epoch not in self._shapes:
            self._shapes = {e: s for e, s in self._shapes.items() if e >= epoch - 1}
            self._shapes[epoch] = [_shape(batch) for batch in self.sampler.epoch_batches(epoch)]
        return self._shapes[epoch][offset]

    def _in_step_shape(self, batch: list[ViewRequest], index: int, per_epoch: int) -> list[ViewRequest]:
        if self.stride == 1:
            return batch
        views, height, width = self._step_shape(index, per_epoch)
        return [request._replace(num_views=views, height=height, width=width) for request in batch]

    def __iter__(self) -> Iterator[list[ViewRequest]]:
        per_epoch = len(self.sampler)
        if per_epoch == 0:
            raise ValueError("the batch sampler is empty: fewer scenes than one batch")
        index = self.start
        while True:
            epoch, offset = divmod(index, per_epoch)
            self.sampler.set_epoch(epoch)
            for position, batch in enumerate(itertools.islice(iter(self.sampler), offset, None), start=offset):
                if (epoch * per_epoch + position - self.start) % self.stride == 0:
                    yield self._in_step_shape(batch, epoch * per_epoch + position, per_epoch)
            index = (epoch + 1) * per_epoch
            # advance to the first index of the next epoch that belongs to this stride
            index += (self.start - index) % self.stride


def _init_worker(worker_id: int) -> None:
    """Seed the worker's generators and leave SIGINT / SIGTERM to the training process: a Ctrl-C or a
    scheduler's SIGTERM sent to the whole process group must not kill the loader before the engine has
    written its checkpoint (a worker whose parent is gone still exits, by DataLoader's watchdog)."""
    seed_worker(worker_id)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def batch_stream(
    dataset: Dataset,
    sampler: MultiViewBatchSampler,
    start: int,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[ViewBatch]:
    """Iterate collated batches from global batch ``start * world_size + rank`` on, this rank's share only.

    ``start`` counts this rank's batches (the same on every rank). Batches are ``ViewBatch``es.
    """
    batches = _GlobalBatchSampler(sampler, start * world_size + rank, world_size)
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=collate_views,
        worker_init_fn=_init_worker,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator().manual_seed(0),
    )
    return iter(loader)
