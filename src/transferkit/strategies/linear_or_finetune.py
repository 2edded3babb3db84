"""``linear-or-finetune``: fit's default, a one-line rule on the number of labels per class.

With fewer than ``FEW_SHOT`` labelled examples in the smallest class (training + validation),
``linear`` - a linear probe on frozen features is hard to beat when labels are this scarce and
fine-tuning overfits; otherwise ``finetune``. The choice and the reason are recorded in the run
(``strategy_info``: ``chosen``, ``reason``). The name says what it can pick; it costs one fit of
the picked strategy, unlike ``auto``, the automatic search, which needs a time budget.

Runs stored before this rule had its own name say ``auto`` with no budget;
:meth:`~transferkit.config.FitConfig.from_dict` reads them as this strategy.
"""

from __future__ import annotations

import numpy as np

from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult

FEW_SHOT = 20


def choose(ctx: FitContext) -> tuple[str, str]:
    """The strategy for this run's labels, and why."""
    labelled = np.concatenate([ctx.splits.train, ctx.splits.val])
    counts = np.bincount(ctx.labels(labelled), minlength=ctx.num_classes)
    smallest = int(counts.min())
    if smallest < FEW_SHOT:
        return "linear", f"smallest class has {smallest} labelled examples (< {FEW_SHOT})"
    return "finetune", f"smallest class has {smallest} labelled examples (>= {FEW_SHOT})"


@STRATEGIES.register("linear-or-finetune")
class LinearOrFinetune(Strategy):
    """``linear`` below ``FEW_SHOT`` labelled examples in the smallest class, else
    ``finetune`` (see the module docstring). Not searched: it chooses between strategies the
    search tries itself."""

    def fit(self, ctx: FitContext) -> StrategyResult:
        chosen, reason = choose(ctx)
        result = STRATEGIES.get(chosen)().fit(ctx)
        result.info.update({"chosen": chosen, "reason": reason})
        return result
