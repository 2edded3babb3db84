"""The choice at the end of the search, from the library of finished configurations
(:mod:`~.candidates`): an ensemble by greedy ensemble selection
(:func:`transferkit.search.ensemble.select_ensemble`) or, with ``--no-ensemble``, one
configuration - the best out-of-fold on small data, else the validation rule of
:func:`transferkit.search.choose.choose`.

The ensemble's members are the chosen configurations' runs: with k-fold, each configuration's
k fold models (bagging: the final model of a configuration is its fold models' average, so
every label trained it); with the validation split, the one run. The ensemble is capped by
``--ensemble-size`` and by time: the heaviest configurations are kept while predicting the
test split with all their runs fits in what is left of the budget.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from transferkit.runs.auto.candidates import Candidate, judged_rows
from transferkit.runs.auto.search import Search
from transferkit.search.choose import choose
from transferkit.search.ensemble import objective, select_ensemble
from transferkit.strategies import STRATEGIES

DEFAULT_SIZE = 5


@dataclasses.dataclass
class Choice:
    """What the search ends with: ``weights`` of candidate keys (an ensemble, or one key), or
    None for one leaderboard row's own run (the validation rule, or no library); ``row``, the
    chosen (heaviest) configuration's leaderboard row; ``why``, in words."""

    weights: dict[str, float] | None
    row: dict[str, Any]
    why: str


def select(search: Search, board: list[dict[str, Any]], candidates: list[Candidate]) -> Choice:
    """The choice, judged on held-out predictions only (the test split plays no part)."""
    if not candidates:
        return Choice(None, *choose(board))
    rows = judged_rows(search, candidates)
    y = search.dataset.labels[search.pool][rows]
    probas = {c.key: c.proba[rows] for c in candidates}
    where = "out-of-fold on every label" if candidates[0].source == "oof" else "on validation"
    by_key = {c.key: c.row for c in candidates}
    if not search.cfg.ensemble:
        if candidates[0].source == "val":
            return Choice(None, *choose(board))  # the validation rule, as before ensembles
        best = max(probas, key=lambda k: _order(objective(probas[k], y)))
        acc, nll = objective(probas[best], y)
        return Choice({best: 1.0}, by_key[best], f"{best}: {_said(acc, nll, where)}, the best")
    ens = select_ensemble(
        probas, y, max_members=search.cfg.ensemble_size or DEFAULT_SIZE, seed=search.cfg.seed
    )
    weights = _affordable(search, candidates, {k: w for k, w in ens.weights.items() if w > 0})
    acc, nll = objective(_blend(probas, weights), y)
    heaviest = max(weights, key=weights.get)
    if len(weights) == 1:
        why = f"{heaviest}: {_said(acc, nll, where)}; no other configuration helped"
        return Choice(weights, by_key[heaviest], why)
    parts = ", ".join(f"{k} {w:.2f}" for k, w in sorted(weights.items(), key=lambda kv: -kv[1]))
    why = (
        f"an ensemble of {len(weights)} configurations ({parts}): {_said(acc, nll, where)}, "
        f"against {ens.best_single_score:.4f} for the best single one ({ens.best_single}); "
        "greedy ensemble selection with replacement, bagged"
    )
    return Choice(weights, by_key[heaviest], why)


def _order(score: tuple[float, float]) -> tuple[float, float]:
    """Higher accuracy first, then lower log-loss."""
    return score[0], -score[1]


def _said(acc: float, nll: float, where: str) -> str:
    return f"accuracy {acc:.4f} {where} (log-loss {nll:.4f})"


def _blend(probas: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return sum(w * probas[k] for k, w in weights.items())


def _affordable(
    search: Search, candidates: list[Candidate], weights: dict[str, float]
) -> dict[str, float]:
    """The heaviest configurations whose runs can all predict the test split in the time
    left (the first always), renormalised."""
    by_key = {c.key: c for c in candidates}
    left = search.clock.left()
    kept: dict[str, float] = {}
    spent = 0.0
    for key, w in sorted(weights.items(), key=lambda kv: -kv[1]):
        cost = test_seconds(search, by_key[key])
        if kept and spent + cost > left:
            continue
        kept[key], spent = w, spent + cost
    total = sum(kept.values())
    return {k: w / total for k, w in kept.items()}


def test_seconds(search: Search, c: Candidate) -> float:
    """Estimated seconds for a configuration's runs to predict the test split: as measured
    on its held-out folds, else from the ranking stage's timed batch; fold models of a
    strategy that leaves the backbone as it is share one backbone pass."""
    n = len(search.splits.test)
    if c.seconds_per_item is not None:
        per_run = c.seconds_per_item * n
    else:
        per_batch = search.done.get("ranking", {}).get("seconds_per_batch", {})
        per_run = per_batch.get(c.row.get("model"), 0.0) / 2 * n / max(1, search.cfg.batch_size)
    shared = not STRATEGIES.get(c.row["strategy"]).trains_backbone
    return per_run * (1 if shared else len(c.runs))


def members(candidates: list[Candidate], weights: dict[str, float]) -> list[dict[str, Any]]:
    """The ensemble's member runs with their weights (a configuration's weight shared by its
    fold runs)."""
    by_key = {c.key: c for c in candidates}
    out = []
    for key, w in sorted(weights.items(), key=lambda kv: -kv[1]):
        runs = by_key[key].runs
        for i, run in enumerate(runs):
            label = key if len(runs) == 1 else f"{key} (fold {i + 1} of {len(runs)})"
            out.append({"run": run, "weight": w / len(runs), "label": label, "config": key})
    return out
