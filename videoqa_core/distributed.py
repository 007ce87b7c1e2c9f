"""The small DDP helpers, in one place (torchvision references style).

DDP is detected from the environment ``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK):
gloo on CPU, NCCL on CUDA.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def init_from_env(device_type: str) -> bool:
    """Initialise the process group when launched by torchrun; returns True if distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return True


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor of raw counts over ranks (never average accuracies: shards differ in size)."""
    if world_size() > 1:
        # gloo has no float64 reduction problems; NCCL needs the tensor on the GPU.
        dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else t.device
        buf = t.to(dev)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        return buf.to(t.device)
    return t


def all_gather_objects(obj) -> list:
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class ShardSampler(torch.utils.data.Sampler):
    """Evaluation sampler: rank r takes items r, r+W, r+2W, ... with no padding, so that
    summed counts over ranks count every question exactly once (DistributedSampler pads
    with duplicates)."""

    def __init__(self, n: int):
        self.n, self.r, self.w = n, rank(), world_size()

    def __iter__(self):
        return iter(range(self.r, self.n, self.w))

    def __len__(self):
        return len(range(self.r, self.n, self.w))
