"""Device choice and mixed precision, shared by train, evaluate, bench and inference."""
from __future__ import annotations

import contextlib

import torch

from .errors import UserError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu; an explicit cuda without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"device '{name}' is not a device name: use auto, cpu, cuda or cuda:K") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name} requested but no CUDA device is available: use cpu")
    return dev


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (bf16 needs no loss scaling); plain fp32 on CPU."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
