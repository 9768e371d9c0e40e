"""Multi-process training with DistributedDataParallel, as launched by ``torchrun``.

``torchrun --nproc_per_node=K [--nnodes=N ...] -m efm_core train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; then
``init_distributed`` joins the process group (NCCL on GPUs, gloo on CPUs) and each rank trains on its own data
stream (its own generator seeds), gradients are averaged by DDP, and only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    """WORLD_SIZE from the environment (1 when not launched by torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init_distributed(device: torch.device) -> DistContext | None:
    """Join the process group if WORLD_SIZE > 1 (None otherwise). ``device`` decides the backend; on CUDA the
    process is pinned to ``cuda:LOCAL_RANK``."""
    if env_world_size() <= 1:
        return None
    backend = "nccl" if device.type == "cuda" else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def device_for(ctx: DistContext | None, device: torch.device) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` on GPUs, else ``device``."""
    if ctx is not None and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def mean_over_ranks(value: float, ctx: DistContext | None, device: torch.device) -> float:
    """The average of a float over all ranks (the value itself without a group)."""
    if ctx is None:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def barrier(ctx: DistContext | None) -> None:
    if ctx is not None:
        dist.barrier()


def shutdown(ctx: DistContext | None) -> None:
    """Leave the process group (no-op without one)."""
    if ctx is not None and dist.is_initialized():
        dist.destroy_process_group()
