"""Multi-process data parallelism: torchrun environment, process group, device.

A process started by ``torchrun`` (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT`` set) joins the process group here: NCCL when it trains on CUDA, gloo on CPU.
Without those variables training runs in one process.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this module created the process group (and destroys it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def resolve_device(pref: str, local_rank: int) -> torch.device:
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{local_rank}")
        return torch.device("cpu")
    dev = torch.device(pref)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {pref!r} asked for but CUDA is not available; use cpu")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    owns = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
        owns = True
        log.info("process %d/%d joined the %s process group on %s", rank, world, backend, dev)
    if dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistInfo(rank, world, local_rank, dev, owns)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_mean(values: list[float], info: DistInfo) -> list[float]:
    """Mean of each value over the processes."""
    if not info.distributed or not values:
        return values
    dev = info.device if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    return (t / info.world).tolist()


def shutdown(info: DistInfo) -> None:
    """Destroy the process group this module created.

    DistributedDataParallel wrappers sit in reference cycles (their hooks point back at
    them), so a dropped wrapper and its reducer, which holds the gloo / NCCL group, live until
    the garbage collector runs. Collected at interpreter exit, the group's worker threads are
    torn down during finalisation, which can abort the process ("terminate called without an
    active exception") after a run that finished. Collect first, so the group's last
    reference goes here, while the interpreter is whole.
    """
    if info.owns_group and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
        gc.collect()
