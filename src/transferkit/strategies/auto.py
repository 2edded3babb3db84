"""``auto``: the automatic search, from ``fit`` (``fit --strategy auto --budget 15m``).

``fit`` runs the search (:mod:`transferkit.runs.auto`: candidates ranked, cheap strategies,
successive halving over fine-tuning recipes, the choice by validation) instead of one transfer,
and returns the winning run. This entry declares the ``--budget`` option and refuses to run
without one: a search's cost is its budget, so it is never started by default, and the quick
rule by labels per class that ``auto`` meant without a budget is ``linear-or-finetune``.
"""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config import opt
from transferkit.errors import UserError
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult


@dataclass
class AutoOptions:
    prefix = ""
    budget: str | None = opt(
        None,
        "auto: search source models, strategies and recipes within this wall-time "
        "budget (e.g. 15m; see `transferkit auto`); required with --strategy auto.",
    )


def budget_missing() -> UserError:
    """The error for ``--strategy auto`` without ``--budget``: what each choice costs."""
    return UserError(
        "--strategy auto is the automatic search, and a search needs a time budget: give "
        "--budget (e.g. --budget 15m; it tries source models, strategies and recipes within "
        "it). For the quick rule by labels per class (linear below 20 labelled examples in "
        "the smallest class, else finetune), use --strategy linear-or-finetune, fit's default."
    )


def check_budget(strategy: str, budget: str | None) -> None:
    """Refuse ``auto`` without a budget, before anything is loaded."""
    if strategy == "auto" and not budget:
        raise budget_missing()


@STRATEGIES.register("auto")
class Auto(Strategy):
    """The automatic search (see module docstring); ``fit`` with a budget runs the search
    instead of this strategy, so reaching ``fit`` here means the budget is missing."""

    options = AutoOptions

    def fit(self, ctx: FitContext) -> StrategyResult:
        raise budget_missing()
