"""The one training loop: device, mixed precision, accumulation, checkpoint and resume, early
stopping on validation, best-checkpoint restore, progress, and DDP under torchrun.

What is computed lives in a :class:`~transferkit.training.task.Task` (the model, its loss, its
optimizer, its validation); how it runs lives here, epoch by epoch, and in
:mod:`transferkit.training.epoch`, step by step. Strategies and pretraining methods provide
tasks; none of them owns a loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit import distributed, progress
from transferkit.errors import UserError
from transferkit.timing import stage
from transferkit.training import state as ckpt
from transferkit.training.epoch import (
    EpochTrainer,
    StopFlag,
    amp_for,
    catching_signals,
    seed_everything,
    stop_check_every,
)
from transferkit.training.state import LoopState
from transferkit.training.task import LoopResult, LoopSettings, Task, TrainHooks

__all__ = ["LoopResult", "LoopSettings", "Task", "TrainHooks", "run", "seed_everything"]


def run(
    task: Task, settings: LoopSettings, device: torch.device, resume: bool = False
) -> LoopResult:
    """Train ``task.model`` on ``device``; returns the history with the best weights loaded."""
    model = _to_device(task.model, device)
    steps = _steps_per_epoch(task)
    optimizer, scheduler = task.configure(math.ceil(steps / settings.accumulate), settings.epochs)
    folder = settings.checkpoint_dir
    state = LoopState()
    if resume and folder is not None:
        state = _resumed(folder, model, optimizer, scheduler, settings.epochs) or state
    trainer = EpochTrainer(
        task,
        model,
        distributed.wrap_model(model, device),
        optimizer,
        scheduler,
        settings,
        device,
        steps,
        amp_for(device, settings.amp),
        settings.stop_check_every or stop_check_every(device),
    )
    best = _BestWeights(folder, model)
    flag, t0, stopped_early = StopFlag(), time.perf_counter(), False
    total = (settings.epochs - state.next_epoch) * steps
    with catching_signals(flag), progress.bar(settings.description, total) as update:
        for epoch in range(state.next_epoch, settings.epochs):
            if _out_of_patience(state, settings):
                stopped_early = True
                break
            metrics = trainer.epoch(epoch, flag, update)
            _end_epoch(state, epoch, metrics, trainer, best)
    with stage("checkpoint"):
        best.restore()
    seconds = time.perf_counter() - t0
    return LoopResult(state.history, state.best_epoch + 1, state.best or {}, stopped_early, seconds)


def _to_device(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` on ``device`` (channels_last on GPU, where convolutions are faster with it)."""
    model = model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def _steps_per_epoch(task: Task) -> int:
    steps = task.steps_per_epoch()
    if steps == 0:
        raise UserError(
            "There are no training batches: the training split is empty or smaller "
            "than the number of processes. Use more labelled data."
        )
    return steps


def _resumed(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, epochs: int
) -> LoopState | None:
    """The state of the last checkpoint in ``folder``, with model, optimizer and scheduler
    restored from it; None when there is none."""
    saved = ckpt.load_checkpoint(folder, model, optimizer, scheduler)
    if saved is None:
        return None
    state = LoopState.from_saved(saved)
    progress.info(f"resuming at epoch {state.next_epoch + 1} of {epochs}")
    return state


def _out_of_patience(state: LoopState, settings: LoopSettings) -> bool:
    """Early stopping: ``patience`` epochs in a row without a better monitored metric."""
    return (
        state.best is not None
        and settings.monitor is not None
        and state.bad_epochs >= settings.patience
    )


def _score(metrics: dict[str, float], s: LoopSettings) -> tuple[float, float]:
    """What makes an epoch better than another: the monitored metric, then the tie-break."""
    if s.monitor is None:  # every epoch beats the previous one: the last is kept
        return (float(metrics.get("epoch", 0)), 0.0)
    main = metrics.get(s.monitor, float("-inf"))
    tie = -metrics.get(s.tie_break, 0.0) if s.tie_break else 0.0
    return (main, tie)


def _end_epoch(
    state: LoopState,
    epoch: int,
    metrics: dict[str, float],
    trainer: EpochTrainer,
    best: _BestWeights,
) -> None:
    """Record a finished epoch: the caller's hook (which may prune the run), the best weights
    when it is the best so far, and the checkpoint (rank 0 writes; the others wait for it)."""
    settings = trainer.settings
    state.history.append(metrics)
    hooks = settings.hooks
    if hooks is not None and hooks.on_epoch is not None:
        hooks.on_epoch(metrics)
    with stage("checkpoint"):
        if state.best is None or _score(metrics, settings) > _score(state.best, settings):
            state.best, state.best_epoch, state.bad_epochs = metrics, epoch, 0
            best.keep()
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        folder = settings.checkpoint_dir
        if folder is not None and distributed.is_main():
            ckpt.save_checkpoint(
                folder, trainer.model, trainer.optimizer, trainer.scheduler, asdict(state)
            )
        distributed.barrier()


class _BestWeights:
    """The best epoch's weights: ``best.safetensors`` in the checkpoint folder (rank 0 writes
    it), or a copy in memory when the run has no checkpoint folder."""

    def __init__(self, folder: Path | None, model: nn.Module) -> None:
        self.folder, self.model = folder, model
        self.in_memory: dict[str, torch.Tensor] | None = None

    def keep(self) -> None:
        if self.folder is None:
            self.in_memory = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        elif distributed.is_main():
            ckpt.save_best(self.folder, self.model)

    def restore(self) -> None:
        """Load the kept weights into the model (all ranks read rank 0's file)."""
        if self.folder is not None:
            ckpt.load_best(self.folder, self.model)
        elif self.in_memory is not None:
            self.model.load_state_dict(self.in_memory)
