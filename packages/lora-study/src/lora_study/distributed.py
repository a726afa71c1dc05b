"""Process-group setup for runs under ``torchrun``.

``torchrun`` sets RANK, LOCAL_RANK and WORLD_SIZE; without them the study runs
as one process. Gloo serves CPUs and NCCL serves CUDA devices. Rank 0 writes
every file; the other ranks only train.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class WorldInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_world(device: torch.device) -> WorldInfo:
    """Join the process group that torchrun describes, or return a one-process world.

    On CUDA each process takes the device of its LOCAL_RANK.
    """
    if not launched_by_torchrun():
        return WorldInfo()
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return WorldInfo(rank, world_size, local_rank)


def process_device(device: torch.device, world: WorldInfo) -> torch.device:
    """Give each process its own GPU; CPU processes share the CPU."""
    if device.type == "cuda" and world.distributed:
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def barrier(world: WorldInfo) -> None:
    if world.distributed:
        dist.barrier()


def all_reduce_sum(value: torch.Tensor, world: WorldInfo) -> torch.Tensor:
    if world.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def close_world(world: WorldInfo) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
