"""Learning-rate schedule: linear warm-up, then cosine decay to zero, per optimizer step."""

from __future__ import annotations

import math

import torch


class WarmupCosine:
    """Multiplier for ``LambdaLR``: a plain class (not a closure) so its state is JSON-able."""

    def __init__(self, warmup_steps: int, total_steps: int) -> None:
        self.warmup_steps = max(0, int(warmup_steps))
        self.total_steps = max(1, int(total_steps))

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        span = max(1, self.total_steps - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        return 0.5 * (1.0 + math.cos(math.pi * t))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup_steps, total_steps))


def decay_groups(parts, weight_decay: float, trainable_only: bool = False) -> list[dict]:
    """AdamW parameter groups for ``parts``, a list of ``(module or parameters, lr)``: matrices
    and kernels get ``weight_decay``, biases and norm scales none (the usual AdamW recipe);
    empty groups are left out. ``trainable_only`` leaves out parameters frozen for good (LoRA's
    base weights); without it frozen blocks are included, so that gradual unfreezing can
    train them later."""
    groups = []
    for part, lr in parts:
        params = [
            p
            for p in (part.parameters() if hasattr(part, "parameters") else part)
            if p.requires_grad or not trainable_only
        ]
        groups += [
            {"params": [p for p in params if p.ndim > 1], "lr": lr, "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "lr": lr, "weight_decay": 0.0},
        ]
    return [g for g in groups if g["params"]]


def adamw_warmup_cosine(
    parts,
    *,
    weight_decay: float,
    warmup_epochs: float,
    steps_per_epoch: int,
    epochs: int,
    trainable_only: bool = False,
):
    """AdamW on :func:`decay_groups` of ``parts`` with a linear warm-up of ``warmup_epochs``
    and cosine decay to zero over ``epochs``: the one optimiser recipe of every training task."""
    optimizer = torch.optim.AdamW(decay_groups(parts, weight_decay, trainable_only))
    warmup = round(warmup_epochs * steps_per_epoch)
    return optimizer, warmup_cosine(optimizer, warmup, steps_per_epoch * epochs)
