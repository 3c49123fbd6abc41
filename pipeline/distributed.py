"""Where this process stands in a `torchrun` launch: its rank and the number of processes, and what the ranks share."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


@contextlib.contextmanager
def process_group(backend: str = "gloo") -> Iterator[None]:
    """torch.distributed's group over the torchrun processes for the block (gloo on CPU, nccl with one GPU per
    process), destroyed on the way out (errors too); nothing in one process."""
    if world_size() == 1:
        yield
        return
    import torch.distributed as dist

    dist.init_process_group(backend)  # torchrun sets MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE
    try:
        yield
    finally:
        dist.destroy_process_group()


def main_process_decides(value: bool) -> bool:
    """Rank 0's `value` on every rank (a broadcast), so that all ranks take the same branch; every rank must call it."""
    if world_size() == 1:
        return value
    import torch
    import torch.distributed as dist

    flag = torch.tensor([int(value)], device=_collective_device())
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def summed(values: list[float]) -> list[float]:
    """`values` added up element-wise over all ranks (an all-reduce); every rank must call it."""
    if world_size() == 1:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def _collective_device() -> object:
    """Where a collective's tensor must live: this process's GPU under nccl, the CPU under gloo."""
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def rank_seed(seed: int) -> int:
    """`seed` in one process; under torchrun, a seed derived from (seed, rank), so that each rank draws its random numbers independently."""
    if world_size() == 1:
        return seed
    from numpy.random import SeedSequence

    return int(SeedSequence([seed, rank()]).generate_state(1)[0])
