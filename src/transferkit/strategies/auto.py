"""``auto``: with a time budget (``--budget 15m``), the automatic search
(:mod:`transferkit.runs.auto`: candidates ranked, cheap strategies, successive halving over
fine-tuning recipes, the choice by validation), which ``fit`` runs instead of one transfer.

Without a budget, a quick rule: with fewer than ``FEW_SHOT`` labelled examples in the smallest
class (training + validation), ``linear`` - a linear probe on frozen features is hard to beat
when labels are this scarce and fine-tuning overfits; otherwise ``finetune``. The choice and
the reason are recorded in the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.config import opt
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult

FEW_SHOT = 20


def choose(ctx: FitContext) -> tuple[str, str]:
    labelled = np.concatenate([ctx.splits.train, ctx.splits.val])
    counts = np.bincount(ctx.labels(labelled), minlength=ctx.num_classes)
    smallest = int(counts.min())
    if smallest < FEW_SHOT:
        return "linear", f"smallest class has {smallest} labelled examples (< {FEW_SHOT})"
    return "finetune", f"smallest class has {smallest} labelled examples (>= {FEW_SHOT})"


@dataclass
class AutoOptions:
    prefix = ""
    budget: str | None = opt(
        None,
        "auto: search source models, strategies and recipes within "
        "this wall-time budget (e.g. 15m; see `transferkit auto`); "
        "without it, the quick rule by labels per class.",
    )


@STRATEGIES.register("auto")
class Auto(Strategy):
    """Picks linear or finetune by labels per class (see module docstring)."""

    options = AutoOptions

    def fit(self, ctx: FitContext) -> StrategyResult:
        chosen, reason = choose(ctx)
        result = STRATEGIES.get(chosen)().fit(ctx)
        result.info.update({"chosen": chosen, "reason": reason})
        return result
