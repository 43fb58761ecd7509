"""Runs a training function on several gloo processes on this machine (DistributedDataParallel on CPUs)."""

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp


def _rank(rank, world_size, port, train, config, result_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    result = train(config, progress=False)
    torch.save(result.model.state_dict(), os.path.join(result_dir, f"rank{rank}.pt"))


def train_on_ranks(train, config, result_dir: Path, world_size: int = 2) -> list[dict]:
    """``train(config)`` on ``world_size`` processes; the final state_dict of each rank's model."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_rank, args=(world_size, port, train, config, str(result_dir)), nprocs=world_size, join=True)
    return [torch.load(Path(result_dir) / f"rank{rank}.pt", weights_only=True) for rank in range(world_size)]
