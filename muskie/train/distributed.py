"""Process-group helpers for ``torchrun``: one process per GPU (NCCL) or per CPU worker (gloo)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job. ``world_size == 1`` means no process group."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def process_count() -> int:
    """The processes of the job torchrun's environment describes (``WORLD_SIZE``; 1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``, ...).

    Without those variables this is a single-process run and nothing is initialised.
    """
    world_size = process_count()
    if world_size <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size)


def all_ranks_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True when ``flag`` holds on every rank (a single rank answers for itself)."""
    return _reduce_flag(flag, info, device, dist.ReduceOp.MIN)


def any_rank_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True when ``flag`` holds on at least one rank."""
    return _reduce_flag(flag, info, device, dist.ReduceOp.MAX)


def _reduce_flag(flag: bool, info: DistInfo, device: torch.device, op) -> bool:
    if not info.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=op)
    return bool(value.item() > 0.5)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
