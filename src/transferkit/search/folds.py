"""Selection on every label: when the labelled pool is small, the search scores its best
configurations by stratified k-fold cross-validation on the whole pool (train + validation)
instead of the validation split alone.

Why a threshold (:data:`KFOLD_BELOW`, 50 labelled examples per class on average): the search
holds out a fifth of the pool for validation, so below 50 labels per class the validation
split has fewer than 10 examples per class. At 10 labels per class and 10 classes that is 20
examples: one standard error of an accuracy near 0.8 is 9 points, ties at 1.0 are common, and
the winner is mostly the luckiest configuration. Out-of-fold (OOF) predictions cover all n
labelled examples, five times as many, each predicted by a model that did not see it; the
error of the estimate shrinks by about sqrt(5). The price is k trainings per configuration, so
the k-fold treatment goes to the cheap strategies (seconds each, on cached features) and to the
few best trials only. Above the threshold the validation split already has 10 or more examples
per class (100+ on a 10-class task) and the budget buys more trials instead.

Fold models never see a validation split (no early stopping, no C chosen on the held-out
fold): a trial's fold models train for the epochs its validation chose, so every OOF
prediction comes from a model that neither trained on the example nor was selected on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.errors import UserError

KFOLD_BELOW = 50  # labelled examples per class (mean) under which selection is cross-validated
KFOLD_SHARE = 0.3  # share of the budget the trials leave for the k-fold stage


def use_kfold(labels: np.ndarray, num_classes: int, below: int) -> bool:
    """Whether a pool with these labels is small enough for cross-validated selection."""
    return below > 0 and len(labels) < below * max(1, num_classes)


def check_folds(labels: np.ndarray, folds: int) -> None:
    """A UserError when the rarest class of the pool has fewer examples than ``folds``."""
    counts = np.bincount(np.asarray(labels, np.int64))
    rarest = int(counts[counts > 0].min()) if counts.any() else 0
    if folds > rarest:
        fix = (
            f"use --folds {rarest} (the largest that works)"
            if rarest >= 2
            else "give every class at least two labelled examples, or --kfold-below 0 to "
            "choose on the validation split"
        )
        raise UserError(
            f"--folds {folds}: the rarest class of the labelled pool has only {rarest} "
            f"example(s), and stratified cross-validation needs one per fold; {fix}."
        )


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The held-out positions (into ``labels``) of each of ``folds`` seeded stratified folds;
    together they cover every position exactly once."""
    from sklearn.model_selection import StratifiedKFold

    check_folds(labels, folds)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [np.sort(held) for _, held in cv.split(np.zeros(len(labels)), labels)]


def fold_seconds(row: dict, pool: int, train: int, folds: int) -> float:
    """Estimated seconds of ``folds`` fold runs of a finished configuration: each trains on
    (folds - 1) / folds of the pool for the epochs its validation chose."""
    seconds = float(row.get("seconds") or 0.0)
    epochs = max(1, int(row.get("epochs") or 1))
    best = int(row.get("best_epoch") or epochs)
    per_fold = seconds * min(1.0, best / epochs) * (pool * (folds - 1) / folds) / max(1, train)
    return folds * per_fold


def plan_selection(
    labels: np.ndarray, num_classes: int, cfg: Any, *, left: float, cheap_s: float, budget_s: float
) -> dict[str, Any]:
    """How the search chooses: ``{"mode": "oof" | "val", "reason": ...}``. Out-of-fold when
    the pool is small (:func:`use_kfold`) and the time ``left`` (after the end's reserve)
    holds the cheap strategies' folds (``cheap_s``) and the trials' share
    (:data:`KFOLD_SHARE`); a pool that small with too little time falls back to the
    validation split (``"fallback": True``: the search says so, it is no error)."""
    per_class = len(labels) / max(1, num_classes)
    if not use_kfold(labels, num_classes, cfg.kfold_below):
        why = (
            "--kfold-below 0"
            if cfg.kfold_below == 0
            else f"{per_class:.0f} labelled examples per class (at least --kfold-below "
            f"{cfg.kfold_below}), so the validation split is large enough"
        )
        return {"mode": "val", "reason": f"chosen on the validation split: {why}"}
    need = cheap_s + KFOLD_SHARE * budget_s
    if left < need:
        return {
            "mode": "val",
            "fallback": True,
            "reason": f"chosen on the validation split: the budget left ({left:.0f} s) is "
            f"too small for {cfg.folds}-fold selection on every label (about {need:.0f} s); "
            "give a larger --budget for it",
        }
    return {
        "mode": "oof",
        "folds": cfg.folds,
        "cheap_s": cheap_s,
        "reason": f"chosen out-of-fold on every label: {per_class:.0f} labelled examples "
        f"per class (under --kfold-below {cfg.kfold_below}), {cfg.folds} stratified folds",
    }
