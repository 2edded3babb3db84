"""One epoch of the training loop: its training steps (mixed precision, gradient accumulation,
clipping, the per-step schedule), the stop checks, then validation.

Host synchronisation stays off the hot path. The training loss is summed on the device and read
back only at a stop check; the stop checks (a signal arrived, the caller's ``should_stop``, a
loss that is not finite) happen at the first step of every epoch - right after the previous
epoch's checkpoint - and every :data:`STOP_CHECK_EVERY` steps after it on GPUs (every step on
CPU, where a check costs next to nothing beside a step), as one collective in
which every rank takes part at the same step, so all of them stop together and none waits for a
peer that left. On accumulation micro-steps DDP does not all-reduce the gradients
(:func:`~transferkit.distributed.gradient_sync`); the step that follows reduces their sum once.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit import distributed
from transferkit.errors import RunInterrupted, RunPruned, UserError
from transferkit.timing import stage
from transferkit.training.task import LoopSettings, Task

# Steps between stop checks on a GPU. Each check reads the loss sum back from the device (a host
# sync: the GPU queue drains) and runs one small gloo all-reduce (tens of microseconds on an idle
# host, 2.4 ms measured on a loaded 2-core one, a network round trip between nodes): once every 8
# steps this stays a small fraction of a GPU step (~10-100 ms), where once a step (as before) it
# was not. A signal, a search deadline or a non-finite loss is acted on within 8 steps: seconds,
# inside the 30 s that SLURM and Kubernetes leave between SIGTERM and SIGKILL. On CPU the check
# comes every step (:func:`stop_check_every`): there is no device queue to drain, the all-reduce
# is small beside a CPU step, and CPU steps can take seconds each.
STOP_CHECK_EVERY = 8


def stop_check_every(device: torch.device) -> int:
    """Steps between stop checks on ``device``: :data:`STOP_CHECK_EVERY` on GPUs, 1 on CPU."""
    return STOP_CHECK_EVERY if device.type == "cuda" else 1


class StopFlag:
    """Set by SIGINT / SIGTERM; the loop stops at its next stop check, with the last finished
    epoch's checkpoint already saved."""

    def __init__(self) -> None:
        self.raised = False
        self.signum = 0

    def __call__(self, signum, frame) -> None:  # signal handler
        self.raised, self.signum = True, signum


@contextmanager
def catching_signals(flag: StopFlag) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``flag`` for the duration (main thread only: elsewhere
    Python cannot install handlers, and the caller's own handling stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, flag) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (each epoch reseeds, so a resumed epoch repeats exactly)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def amp_for(device: torch.device, enabled: bool) -> tuple[torch.dtype | None, Any]:
    """(autocast dtype or None, GradScaler or None) for this device: bf16 where the GPU has it,
    else fp16 with a loss scaler; full precision on CPU."""
    if not enabled or device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


@dataclass
class EpochTrainer:
    """Runs epochs of ``task`` on ``device``: ``model`` is the bare model (validated, saved),
    ``wrapped`` the same model under DDP when distributed (trained). ``amp`` is the pair from
    :func:`amp_for`, one GradScaler for the whole run; ``check_every``: steps between stop
    checks."""

    task: Task
    model: nn.Module
    wrapped: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    settings: LoopSettings
    device: torch.device
    steps: int
    amp: tuple[torch.dtype | None, Any]
    check_every: int

    def epoch(self, epoch: int, flag: StopFlag, update: Callable[..., None]) -> dict[str, float]:
        """One epoch of training, then validation; returns the epoch's metrics, with the
        seconds of its training steps and of its validation (``time_train``,
        ``time_validate``)."""
        seed_everything(self.settings.seed * 1000 + epoch)
        self.task.on_epoch_start(epoch)
        self.task.train_mode(self.wrapped)
        self.optimizer.zero_grad(set_to_none=True)
        t_train = time.perf_counter()
        with stage("train"):
            metrics = self._train_steps(epoch, flag, update)
        metrics["time_train"] = round(time.perf_counter() - t_train, 4)
        t_val = time.perf_counter()
        with stage("validate"):
            metrics.update(self.task.validate(self.model, self.device))
        metrics["time_validate"] = round(time.perf_counter() - t_val, 4)
        metrics["lr"] = self.optimizer.param_groups[-1]["lr"]
        return metrics

    def _train_steps(
        self, epoch: int, flag: StopFlag, update: Callable[..., None]
    ) -> dict[str, float]:
        """The training steps of one epoch; returns the epoch's mean training loss (over all
        ranks). The sum stays on the device in float64: the same additions, in the same order,
        as summing ``loss.item()`` on the host."""
        accumulate = self.settings.accumulate
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for i, batch in enumerate(self.task.train_batches()):
            if i % self.check_every == 0:
                self._stop_check(epoch, total, count, flag, update)
            steps_now = (i + 1) % accumulate == 0 or i + 1 == self.steps
            loss = self._backward(batch, sync=steps_now)
            if steps_now:
                self._step()
            total += loss.detach().to(torch.float64) * accumulate
            count += 1
            update(1)
        mean = distributed.all_reduce_mean(total.item() / max(count, 1))
        if not math.isfinite(mean):  # the mean over ranks: every rank stops here together
            raise _not_finite(mean, epoch)
        return {"epoch": epoch + 1, "train_loss": mean}

    def _stop_check(
        self,
        epoch: int,
        total: torch.Tensor,
        count: int,
        flag: StopFlag,
        update: Callable[..., None],
    ) -> None:
        """Whether any rank must stop (a non-finite loss, a signal, the caller's
        ``should_stop``), agreed by all ranks in one collective; refreshes the loss shown."""
        loss = total.item() / count if count else 0.0
        if count:
            update(0, f"epoch {epoch + 1} loss {loss:.3f}")
        hooks = self.settings.hooks
        why = hooks.should_stop() if hooks is not None and hooks.should_stop is not None else None
        bad, signalled, stop = distributed.any_rank(
            not math.isfinite(loss), flag.raised, why is not None
        )
        if bad:
            raise _not_finite(loss, epoch)
        if signalled:
            raise RunInterrupted(f"stopped by signal {flag.signum} in epoch {epoch + 1}")
        if stop:
            raise RunPruned(why or "another process was stopped")

    def _backward(self, batch: Any, sync: bool) -> torch.Tensor:
        """Forward and backward of one (micro-)batch, the loss divided by the accumulation
        steps; DDP all-reduces the gradients only when ``sync`` (the step follows)."""
        dtype, scaler = self.amp
        autocast = torch.autocast(
            self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None
        )
        with distributed.gradient_sync(self.wrapped, sync):
            with autocast:  # the forward pass only: backward runs in the forward's dtypes
                loss = self.task.loss(self.wrapped, batch, self.device) / self.settings.accumulate
            (scaler.scale(loss) if scaler else loss).backward()
        return loss

    def _step(self) -> None:
        """One optimiser step: unscale, clip the gradient norm, step, advance the schedule."""
        _, scaler = self.amp
        if scaler:
            scaler.unscale_(self.optimizer)
        if self.settings.max_grad_norm:
            params = [p for p in self.model.parameters() if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.settings.max_grad_norm)
        (scaler.step(self.optimizer) if scaler else self.optimizer.step())
        if scaler:
            scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)


def _not_finite(value: float, epoch: int) -> UserError:
    """The error for a training loss that is nan or inf (here, or on another process)."""
    shown = value if not math.isfinite(value) else "nan or inf on another process"
    return UserError(
        f"The training loss became {shown} in epoch {epoch + 1}. Lower the learning rate "
        "(--lr) or check the data; the last good checkpoint is kept."
    )
