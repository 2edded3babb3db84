"""The one training loop: device, mixed precision, accumulation, checkpoint and resume, early
stopping on validation, best-checkpoint restore, progress, and DDP under torchrun.

What is computed lives in a :class:`Task` (the model, its loss, its optimizer, its
validation); how it runs lives here. Strategies and pretraining methods provide tasks; none of
them owns a loop.
"""

from __future__ import annotations

import math
import random
import signal
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from transferkit import distributed, progress
from transferkit.errors import RunInterrupted, RunPruned, UserError
from transferkit.timing import stage
from transferkit.training import state as ckpt


class Task(Protocol):
    """What a training run computes. The loop calls these, in this order."""

    model: nn.Module

    def configure(self, steps_per_epoch: int, epochs: int) -> tuple[torch.optim.Optimizer, Any]:
        """Build the optimizer and a per-step scheduler."""

    def on_epoch_start(self, epoch: int) -> None:
        """Set freeze state, sampler epoch, ... (must depend only on ``epoch``: resumable)."""

    def train_batches(self) -> Iterable[Any]:
        """This epoch's batches for this rank."""

    def steps_per_epoch(self) -> int: ...

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor: ...

    def train_mode(self, model: nn.Module) -> None:
        """Put ``model`` in training mode (and frozen BatchNorm layers back in eval mode)."""

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Validation metrics; must include the monitored one. Same on every rank."""


@dataclass
class TrainHooks:
    """What a caller (the automatic search) may attach to a training run: ``on_epoch(metrics)``
    after each epoch's validation (it may raise :class:`~transferkit.errors.RunPruned` to stop
    the run), and ``should_stop()`` before each step, returning a reason to stop or None."""

    on_epoch: Callable[[dict[str, float]], None] | None = None
    should_stop: Callable[[], str | None] | None = None


@dataclass
class LoopSettings:
    epochs: int = 15
    accumulate: int = 1
    amp: bool = True
    patience: int = 5
    monitor: str | None = "val_accuracy"  # None: no validation, keep the last epoch
    tie_break: str | None = "val_loss"  # lower is better; breaks ties of the monitored metric
    seed: int = 0
    checkpoint_dir: Path | None = None
    description: str = "train"
    max_grad_norm: float | None = 5.0
    hooks: TrainHooks | None = None


@dataclass
class LoopResult:
    history: list[dict[str, float]]
    best_epoch: int
    best: dict[str, float]
    stopped_early: bool
    seconds: float


class _StopFlag:
    """Set by SIGINT / SIGTERM; the loop stops at the next step with state already saved."""

    def __init__(self) -> None:
        self.raised = False
        self.signum = 0

    def __call__(self, signum, frame) -> None:  # signal handler
        self.raised, self.signum = True, signum


@contextmanager
def _signals(flag: _StopFlag):
    import threading

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
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _score(metrics: dict[str, float], s: LoopSettings) -> tuple[float, float]:
    if s.monitor is None:  # every epoch beats the previous one: the last is kept
        return (float(metrics.get("epoch", 0)), 0.0)
    main = metrics.get(s.monitor, float("-inf"))
    tie = -metrics.get(s.tie_break, 0.0) if s.tie_break else 0.0
    return (main, tie)


def _amp(device: torch.device, enabled: bool):
    """(autocast dtype or None, GradScaler or None) for this device."""
    if not enabled or device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def run(
    task: Task, settings: LoopSettings, device: torch.device, resume: bool = False
) -> LoopResult:
    """Train ``task.model`` on ``device``; returns the history with the best weights loaded."""
    model = task.model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    steps = task.steps_per_epoch()
    if steps == 0:
        raise UserError(
            "There are no training batches: the training split is empty or smaller "
            "than the number of processes. Use more labelled data."
        )
    optimizer, scheduler = task.configure(math.ceil(steps / settings.accumulate), settings.epochs)
    folder = settings.checkpoint_dir
    state = {"start": 0, "history": [], "best": None, "best_epoch": -1, "bad": 0}
    if resume and folder is not None:
        saved = ckpt.load_checkpoint(folder, model, optimizer, scheduler)
        if saved is not None:
            state.update(
                start=saved["epoch"] + 1,
                history=saved["history"],
                best=saved["best"],
                best_epoch=saved["best_epoch"],
                bad=saved["bad_epochs"],
            )
            progress.info(f"resuming at epoch {state['start'] + 1} of {settings.epochs}")
    wrapped = distributed.wrap_model(model, device)
    amp = _amp(device, settings.amp)  # one GradScaler for the whole run
    flag, t0, stopped_early = _StopFlag(), time.perf_counter(), False
    best_state = None  # in-memory copy of the best weights when there is no checkpoint folder
    total = (settings.epochs - state["start"]) * steps
    with _signals(flag), progress.bar(settings.description, total) as update:
        for epoch in range(state["start"], settings.epochs):
            if (
                state["best"] is not None
                and settings.monitor is not None
                and state["bad"] >= settings.patience
            ):
                stopped_early = True
                break
            metrics = _epoch(
                task,
                (model, wrapped),
                (optimizer, scheduler, amp),
                settings,
                device,
                epoch,
                steps,
                flag,
                update,
            )
            state["history"].append(metrics)
            hooks = settings.hooks
            if hooks is not None and hooks.on_epoch is not None:
                hooks.on_epoch(metrics)
            with stage("checkpoint"):
                if state["best"] is None or _score(metrics, settings) > _score(
                    state["best"], settings
                ):
                    state.update(best=metrics, best_epoch=epoch, bad=0)
                    if folder is None:
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    elif distributed.is_main():
                        ckpt.save_best(folder, model)
                else:
                    state["bad"] += 1
                if folder is not None and distributed.is_main():
                    ckpt.save_checkpoint(
                        folder,
                        model,
                        optimizer,
                        scheduler,
                        {
                            "epoch": epoch,
                            "history": state["history"],
                            "best": state["best"],
                            "best_epoch": state["best_epoch"],
                            "bad_epochs": state["bad"],
                        },
                    )
                distributed.barrier()
    with stage("checkpoint"):
        if folder is not None:
            ckpt.load_best(folder, model)
        elif best_state is not None:
            model.load_state_dict(best_state)
    return LoopResult(
        state["history"],
        state["best_epoch"] + 1,
        state["best"] or {},
        stopped_early,
        time.perf_counter() - t0,
    )


def _epoch(
    task: Task,
    models: tuple[nn.Module, nn.Module],
    optim: tuple,
    settings: LoopSettings,
    device: torch.device,
    epoch: int,
    steps: int,
    flag: _StopFlag,
    update,
) -> dict[str, float]:
    """One epoch of training (stopping at the next step when a signal arrived), then
    validation; returns the epoch's metrics, with the seconds of its training steps and of
    its validation (``time_train``, ``time_validate``). ``models``: the model and its DDP wrapper;
    ``optim``: optimizer, scheduler and the (autocast dtype, GradScaler) pair."""
    model, wrapped = models
    optimizer = optim[0]
    seed_everything(settings.seed * 1000 + epoch)
    task.on_epoch_start(epoch)
    task.train_mode(wrapped)
    optimizer.zero_grad(set_to_none=True)
    t_train = time.perf_counter()
    with stage("train"):
        metrics = _train_steps(task, models, optim, settings, device, epoch, steps, flag, update)
    metrics["time_train"] = round(time.perf_counter() - t_train, 4)
    t_val = time.perf_counter()
    with stage("validate"):
        metrics.update(task.validate(model, device))
    metrics["time_validate"] = round(time.perf_counter() - t_val, 4)
    metrics["lr"] = optimizer.param_groups[-1]["lr"]
    return metrics


def _train_steps(
    task: Task,
    models: tuple[nn.Module, nn.Module],
    optim: tuple,
    settings: LoopSettings,
    device: torch.device,
    epoch: int,
    steps: int,
    flag: _StopFlag,
    update,
) -> dict[str, float]:
    """The training steps of one epoch; returns the epoch's mean training loss."""
    model, wrapped = models
    optimizer, scheduler, (dtype, scaler) = optim
    total, count = 0.0, 0
    stop = settings.hooks.should_stop if settings.hooks is not None else None
    for i, batch in enumerate(task.train_batches()):
        if distributed.any_rank(flag.raised):
            raise RunInterrupted(f"stopped by signal {flag.signum} in epoch {epoch + 1}")
        why = stop() if stop is not None else None
        if distributed.any_rank(why is not None):
            raise RunPruned(why or "another process was stopped")
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = task.loss(wrapped, batch, device) / settings.accumulate
        if not torch.isfinite(loss):
            raise UserError(
                f"The training loss became {loss.item()} in epoch {epoch + 1}. Lower the "
                "learning rate (--lr) or check the data; the last good checkpoint is kept."
            )
        (scaler.scale(loss) if scaler else loss).backward()
        if (i + 1) % settings.accumulate == 0 or i + 1 == steps:
            _step(model, optimizer, scheduler, scaler, settings.max_grad_norm)
        total += loss.item() * settings.accumulate
        count += 1
        update(1, f"epoch {epoch + 1} loss {total / count:.3f}")
    return {"epoch": epoch + 1, "train_loss": distributed.all_reduce_mean(total / max(count, 1))}


def _step(model: nn.Module, optimizer, scheduler, scaler, max_grad_norm: float | None) -> None:
    """One optimiser step: unscale, clip the gradient norm, step, advance the schedule."""
    if scaler:
        scaler.unscale_(optimizer)
    if max_grad_norm:
        params = [p for p in model.parameters() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    (scaler.step(optimizer) if scaler else optimizer.step())
    if scaler:
        scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
