"""``fit``: transfer a source model to labelled target data, recorded in the run store.

One configuration is one transfer run (:func:`~transferkit.runs._transfer.transfer`). With
``strategy="auto"`` and a time ``budget`` the same call is the automatic search
(:func:`~transferkit.runs.auto.auto`), which returns the winning run; ``auto`` without a budget
is refused before anything loads. The default strategy, ``linear-or-finetune``, is the quick
rule on the number of labels per class.
"""

from __future__ import annotations

from typing import Any

from transferkit.config import FitConfig
from transferkit.runs._transfer import FitResult, transfer
from transferkit.strategies.auto import check_budget

__all__ = ["FitResult", "fit"]


def fit(
    data: str | None = None,
    *,
    config: FitConfig | None = None,
    resume: str | None = None,
    **kwargs: Any,
) -> FitResult:
    """Transfer a source model to the target ``data``; returns a :class:`FitResult`.

    The settings are :class:`~transferkit.config.FitConfig`'s: give a ``config``, or its fields
    as keyword arguments, flat (``model="effnet-lite0"``, ``strategy="finetune"``, ``epochs=5``,
    ``lr=1e-3``, a strategy's own options such as ``lora_rank=8``); ``resume`` continues an
    interrupted run by its id."""
    strategy = kwargs.get("strategy", config.strategy if config else FitConfig.strategy)
    budget = kwargs.get("budget") or (config.options.get("budget") if config else None)
    if resume is None:
        check_budget(strategy, budget)
    if resume is None and strategy == "auto" and budget:
        from transferkit.runs.auto import auto_fit

        return auto_fit(data, config=config, **kwargs)
    return transfer(data, config=config, resume=resume, **kwargs)
