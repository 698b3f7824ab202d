"""torch.distributed under `torchrun`: process-group setup, rank-0 helpers and gradient/metric reductions.

Nothing here does anything in a plain single-process run (WORLD_SIZE unset or 1), so every training entry
point calls these helpers unconditionally. Backend: nccl on CUDA, gloo on CPU.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn

from pneumogan.errors import PneumoganError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def silent(*args: object, **kwargs: object) -> None:
    """The log function of processes other than rank 0."""


def setup(device: torch.device) -> Dist:
    """Join the process group torchrun describes (env RANK/WORLD_SIZE/LOCAL_RANK); a no-op when alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch_dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        torch_dist.init_process_group(backend=backend)
        # Leave the group before the interpreter exits: a process that exits with it alive can abort in teardown
        # ("terminate called without an active exception" from gloo's threads, SIGABRT after a finished run —
        # the cause of test_distributed's occasional failures)
        atexit.register(_leave_group)
    return Dist(rank, world, local)


def _leave_group() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def local_device(device: torch.device, dist: Dist) -> torch.device:
    """Each process drives its own GPU (LOCAL_RANK); on CPU every process uses the CPU."""
    return torch.device("cuda", dist.local_rank) if device.type == "cuda" and dist.enabled else device


def shard_batch(global_batch: int, dist: Dist) -> int:
    """Per-process batch for a configured global batch; the global batch is kept, so it must divide evenly."""
    if global_batch % dist.world:
        raise PneumoganError(
            f"batch size {global_batch} does not split over {dist.world} processes; use a multiple of {dist.world}"
        )
    return global_batch // dist.world


def average_gradients(module: nn.Module, dist: Dist) -> None:
    """Mean of every parameter's gradient over processes, in one flat all-reduce (as StyleGAN2-ADA does for
    its G and D, whose R1 double-backward and alternating steps do not fit DistributedDataParallel)."""
    if not dist.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    torch_dist.all_reduce(flat)
    flat /= dist.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def all_sum(values: list[float], dist: Dist, device: torch.device) -> list[float]:
    """Sum a few scalars over processes (losses, counts) for logging and history."""
    if not dist.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch_dist.all_reduce(t)
    return t.tolist()


def broadcast_choice(value: str, options: tuple[str, ...], dist: Dist, device: torch.device) -> str:
    """Rank 0's `value` on every process (a choice such as the precision is made once, by rank 0)."""
    if not dist.enabled:
        return value
    t = torch.tensor([options.index(value)], dtype=torch.int64, device=device)
    torch_dist.broadcast(t, src=0)
    return options[int(t.item())]


def barrier(dist: Dist) -> None:
    if dist.enabled:
        torch_dist.barrier()
