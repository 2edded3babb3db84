"""Everything that talks to ``torch.distributed``: the only module that does.

Training code calls these helpers and runs unchanged with one process or under ``torchrun``
(DDP, one machine or several). The launcher sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous
address; we only read them.

One process group, a backend per device (:func:`backend_for`): gloo for CPU tensors everywhere,
and NCCL for CUDA tensors when training on GPUs (``"cpu:gloo,cuda:nccl"``). DDP's gradient
all-reduce runs on the GPUs through NCCL; the small host-side agreements (:func:`any_rank`,
:func:`all_reduce_mean`, object collectives, barriers) stay CPU tensors and go through gloo. NCCL
alone cannot reduce a CPU tensor, so a group created with ``nccl`` alone stopped at the training
loop's first stop check.

Waiting for the others. torchrun's agents meet first (``--rdzv-conf join_timeout=S``, 600 s by
default; a peer that never comes or an unreachable endpoint fails *there*, before our process
exists). Our processes then form the process group, and a process whose peer never gets that
far (it failed at start-up on its node) waits ``TRANSFERKIT_DIST_TIMEOUT`` seconds (default
600) before a :class:`~transferkit.errors.UserError` says so; collectives after that keep the
usual 30-minute timeout (a rank may wait at a barrier while rank 0 writes a checkpoint).
"""

from __future__ import annotations

import math
import os
import socket
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from transferkit.errors import UserError

TIMEOUT_ENV = "TRANSFERKIT_DIST_TIMEOUT"
DEFAULT_JOIN_TIMEOUT_S = 600.0  # as torchrun's own join_timeout
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


def launched() -> bool:
    """True when started by torchrun (also with one process: `--nproc-per-node 1` then runs the
    same process-group path, NCCL included, as several) or by another launcher that sets
    WORLD_SIZE > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 or "TORCHELASTIC_RUN_ID" in os.environ


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


def join_timeout() -> float:
    """Seconds a process waits for the others to join (``TRANSFERKIT_DIST_TIMEOUT``)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_JOIN_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UserError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds. Set it to how long "
            f"a process may wait for the others to join, e.g. `export "
            f"{TIMEOUT_ENV}=600`, or unset it for the default of "
            f"{DEFAULT_JOIN_TIMEOUT_S:g} s."
        )
    return value


def backend_for(device_type: str, nccl_available: bool | None = None) -> str:
    """The process group's backend string for a run on ``device_type``: gloo alone on CPU, and
    on CUDA NCCL for the GPU tensors plus gloo for the CPU ones (where NCCL is not built in,
    e.g. on Windows, gloo does both). ``nccl_available`` defaults to what this torch has."""
    if nccl_available is None:
        nccl_available = dist.is_nccl_available()
    if device_type == "cuda" and nccl_available:
        return "cpu:gloo,cuda:nccl"
    return "gloo"


def init(device_type: str = "cpu") -> None:
    """Create the process group when launched by torchrun (once; a backend per device, see
    :func:`backend_for`). Waiting longer than :func:`join_timeout` for the other processes is a
    UserError."""
    if not launched() or is_initialized():
        return
    wait = join_timeout()
    backend = backend_for(device_type)
    if device_type == "cuda":
        check_gpu_count(local_rank(), torch.cuda.device_count())
    if "nccl" in backend:
        torch.cuda.set_device(local_rank())
    try:
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=wait))
    except dist.DistError as e:  # DistStoreError (peers missing), DistNetworkError (unreachable)
        raise _join_error(e, wait) from None
    dist.set_timeout(max(COLLECTIVE_TIMEOUT, timedelta(seconds=wait)))


def check_gpu_count(rank_on_node: int, gpus: int) -> None:
    """One GPU per process on a node: process ``rank_on_node`` needs GPU number
    ``rank_on_node`` to exist (CUDA's own error for a missing device is a traceback)."""
    if rank_on_node >= gpus:
        raise UserError(
            f"Process {rank_on_node} on this node has no GPU of its own: the node has {gpus} "
            f"GPU(s) and each process uses one. Start at most {gpus} processes per node "
            f"(torchrun --nproc-per-node {max(gpus, 1)}), or run on the CPU (--device cpu)."
        )


def _join_error(e: Exception, wait: float) -> UserError:
    """The one-paragraph error for a process group that could not be formed in time."""
    env = os.environ
    me = (
        f"Process {env.get('RANK', '?')} of {env.get('WORLD_SIZE', '?')} "
        f"(host {socket.gethostname()})"
    )
    where = f"{env.get('MASTER_ADDR', '?')}:{env.get('MASTER_PORT', '?')}"
    why = (str(e).strip().splitlines() or [type(e).__name__])[0]
    longer = f"set {TIMEOUT_ENV} to more seconds (now {wait:g}) if the other nodes start later"
    if isinstance(e, dist.DistNetworkError):
        return UserError(
            f"{me} could not reach the rendezvous at {where} within {wait:g} s ({why}). Check "
            "that the first node is running and that this address and port are reachable from "
            "here (firewall, --rdzv-endpoint / MASTER_ADDR), start the same command on every "
            f"node, or {longer}."
        )
    return UserError(
        f"{me} waited {wait:g} s at {where} for the other processes of this job to join the "
        f"process group, and not all came ({why}). A process on another node stopped before "
        "it got there (its own output says why) or was never started. Start the same command "
        f"on every node (same --nnodes, --rdzv-id and --rdzv-endpoint), or {longer}."
    )


def close() -> None:
    """Leave the process group at the end of a command that succeeded on every rank: wait for
    the others (so no rank closes its connections while a peer still uses them), then destroy
    the group. A group left alive at exit can abort the interpreter in gloo's threads
    ("terminate called without an active exception")."""
    if is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def abandon() -> None:
    """Leave the process group without waiting for the others (a process stopping on an
    error): a group left alive at exit can abort the interpreter in the backend's threads."""
    if is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001  # pragma: no cover - the group is already broken
            pass


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


def broadcast_object(obj: Any) -> Any:
    """Send a small JSON-like object (str, dict of JSON values) from rank 0 to all ranks."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    if not is_initialized():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


class _GatherRows(torch.autograd.Function):
    """Every rank's rows in rank order; the backward pass sums the gradient of the gathered
    rows over the ranks (all-reduce, which gloo and NCCL both have) and keeps this rank's."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:  # type: ignore[override]
        ctx.sizes = sizes
        padded = x.new_zeros((max(sizes), *x.shape[1:]))  # all_gather wants equal shapes
        padded[: len(x)] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[: rank()])
        return grad[start : start + ctx.sizes[rank()]], None


def gather_rows(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The rows of ``x`` from every rank, concatenated in rank order (ranks may hold different
    numbers of rows), and where this rank's rows start. Differentiable: for a loss that every
    rank computes alike over the gathered rows (contrastive losses, whose negatives are then
    the whole global batch instead of one process's share), the gradients DDP averages are
    those of the same loss in one process over the whole batch. One process: ``(x, 0)``."""
    if not is_initialized() or world_size() == 1:
        return x, 0
    sizes = torch.tensor([len(x)], device=x.device)
    every = [torch.empty_like(sizes) for _ in range(world_size())]
    dist.all_gather(every, sizes)
    counts = [int(c) for c in every]
    return _GatherRows.apply(x, counts), sum(counts[: rank()])


def all_reduce_mean(value: float) -> float:
    """Mean of a scalar over all ranks (a CPU tensor: gloo, also on GPU runs)."""
    if not is_initialized():
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world_size()


def any_rank(*flags: bool) -> tuple[bool, ...]:
    """For each of ``flags``, whether it is true on any rank: the ranks agree in one collective
    (a CPU tensor: gloo, also on GPU runs), so all of them stop together."""
    if not is_initialized():
        return tuple(bool(f) for f in flags)
    t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when distributed, else ``model`` itself."""
    if not is_initialized():
        return model
    ids = [device.index] if device.type == "cuda" else None
    # find_unused_parameters: frozen (and gradually unfrozen) blocks produce no gradients
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def gradient_sync(model: nn.Module, enabled: bool) -> AbstractContextManager:
    """Context for one forward and backward pass of ``model``: DDP all-reduces the gradients
    only when ``enabled``. On gradient-accumulation micro-steps pass False: the gradients add
    up locally and the step that follows reduces their sum once (DDP's ``no_sync``)."""
    if enabled or not isinstance(model, nn.parallel.DistributedDataParallel):
        return nullcontext()
    return model.no_sync()


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard(n: int) -> slice:
    """The contiguous slice of ``range(n)`` this rank handles (for sharded extraction)."""
    w, r = world_size(), rank()
    per = (n + w - 1) // w
    return slice(min(r * per, n), min((r + 1) * per, n))
