"""Everything that talks to ``torch.distributed``: the only module that does.

Training code calls these helpers and runs unchanged with one process or under ``torchrun``
(DDP; gloo on CPU, NCCL on GPU, one machine or several). The launcher sets RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous address; we only read them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def launched() -> bool:
    """True when started by torchrun (or another launcher that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init(device_type: str = "cpu") -> bool:
    """Create the process group when launched by torchrun; returns whether it is distributed."""
    if not launched() or is_initialized():
        return is_initialized()
    backend = "nccl" if device_type == "cuda" and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return True


def shutdown() -> None:
    if is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def device_for(requested: str = "auto") -> torch.device:
    """The device this process should use: cuda:LOCAL_RANK when CUDA is there, else CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        return torch.device("cuda", local_rank() if launched() else torch.cuda.current_device())
    return torch.device(requested)


def setup(requested: str = "auto") -> torch.device:
    """This process's device, with the process group created first under torchrun (the
    device then follows the local rank)."""
    init(device_for(requested).type)
    return device_for(requested)


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Send a picklable-free small object (str, dict of JSON values) from ``src`` to all ranks."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    if not is_initialized():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(value: float, device: torch.device | None = None) -> float:
    """Mean of a scalar over all ranks."""
    if not is_initialized():
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=device or torch.device("cpu"))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world_size()


def any_rank(flag: bool) -> bool:
    """True if ``flag`` is true on any rank (used to stop all ranks together)."""
    if not is_initialized():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when distributed, else ``model`` itself."""
    if not is_initialized():
        return model
    ids = [device.index] if device.type == "cuda" else None
    # find_unused_parameters: frozen (and gradually unfrozen) blocks produce no gradients
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard(n: int) -> slice:
    """The contiguous slice of ``range(n)`` this rank handles (for sharded extraction)."""
    w, r = world_size(), rank()
    per = (n + w - 1) // w
    return slice(min(r * per, n), min((r + 1) * per, n))
