"""What a caller hands the training loop (a :class:`Task`, :class:`LoopSettings` with optional
:class:`TrainHooks`) and what it gets back (:class:`LoopResult`).

What is computed lives in a Task (the model, its loss, its optimizer, its validation); how it
runs lives in :mod:`transferkit.training.loop`. Strategies and pretraining methods provide tasks;
none of them owns a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn


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
    the run), and ``should_stop()``, asked at the loop's stop checks (the first step of every
    epoch and every few steps after), returning a reason to stop or None."""

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
    stop_check_every: int | None = None  # steps between stop checks; None: by device (epoch.py)


@dataclass
class LoopResult:
    history: list[dict[str, float]]
    best_epoch: int
    best: dict[str, float]
    stopped_early: bool
    seconds: float
