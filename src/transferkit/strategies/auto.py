"""``auto``: choose the strategy from the data, with a documented first rule.

Rule (version 1): with fewer than ``FEW_SHOT`` labelled examples in the smallest class
(training + validation), use ``linear`` - a linear probe on frozen features is hard to beat
when labels are this scarce and fine-tuning overfits; otherwise ``finetune``. The choice and
the reason are recorded in the run. Later versions may use transferability scores.
"""

from __future__ import annotations

import numpy as np

from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult

FEW_SHOT = 20


def choose(ctx: FitContext) -> tuple[str, str]:
    labelled = np.concatenate([ctx.splits.train, ctx.splits.val])
    counts = np.bincount(ctx.labels(labelled), minlength=ctx.num_classes)
    smallest = int(counts.min())
    if smallest < FEW_SHOT:
        return "linear", f"smallest class has {smallest} labelled examples (< {FEW_SHOT})"
    return "finetune", f"smallest class has {smallest} labelled examples (>= {FEW_SHOT})"


@STRATEGIES.register("auto")
class Auto(Strategy):
    """Picks linear or finetune by labels per class (see module docstring)."""

    def fit(self, ctx: FitContext) -> StrategyResult:
        chosen, reason = choose(ctx)
        result = STRATEGIES.get(chosen)().fit(ctx)
        result.info.update({"chosen": chosen, "reason": reason})
        return result
