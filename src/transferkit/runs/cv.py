"""Stratified k-fold cross-validation of one fit configuration (``fit --cv K``).

The labelled pool (the training + validation examples of the usual split, after any
``--labels-per-class`` subsampling) is cut into K stratified folds. Each fold is the test set
once; the other folds are split into training and validation as usual, so validation (for
early stopping and regularisation) and testing never share examples. Per-fold metrics and
their mean, spread and 95% interval are recorded, along with the pooled out-of-fold accuracy.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.config import FitConfig
from transferkit.data.splits import Splits, stratified_kfold
from transferkit.errors import UserError
from transferkit.evaluation.stats import t_interval
from transferkit.runs._fitting import check_labelled, fit_splits, load_fit_data, make_config
from transferkit.runs._recorded import RecordedRun
from transferkit.runs.fit import fit
from transferkit.store import RunStore

SUMMARY = ("test_accuracy", "test_balanced_accuracy", "test_macro_f1", "test_ece")


@dataclass
class CVResult:
    cv_id: str
    folds: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]]
    pooled_accuracy: float


def _fold_splits(
    pool: np.ndarray, labels: np.ndarray, test_pos: np.ndarray, val_fraction: float, seed: int
) -> Splits:
    rest = np.setdiff1d(np.arange(len(pool)), test_pos)
    y = labels[pool[rest]]
    counts = np.bincount(y)
    strat = y if counts[counts > 0].min() >= 2 else None
    from sklearn.model_selection import train_test_split

    tr, va = train_test_split(rest, test_size=val_fraction, random_state=seed, stratify=strat)
    return Splits(np.sort(pool[tr]), np.sort(pool[va]), np.sort(pool[test_pos]))


def _folds(dataset, cfg: FitConfig, k: int) -> tuple[np.ndarray, list]:
    """The labelled pool and its k stratified folds; refuses too few examples per fold."""
    base = fit_splits(dataset, cfg.data, cfg.seed, cfg.data.labels_per_class)
    pool = np.sort(np.concatenate([base.train, base.val]))
    folds = stratified_kfold(dataset.labels[pool], k, cfg.seed, classes=dataset.classes)
    for _, test_pos in folds:
        if len(pool) - len(test_pos) < 2 * dataset.num_classes:
            raise UserError(
                f"With {len(pool)} labelled examples, {k} folds leave too few to "
                "train and validate on; use fewer folds or more labels per class."
            )
    return pool, folds


def cross_validate(
    data: str | None = None,
    *,
    k: int,
    config: FitConfig | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> CVResult:
    """Fit ``k`` times, each fold held out once; returns per-fold and pooled metrics."""
    store = store or RunStore()
    cfg = make_config(data, config=config, **overrides)
    if k < 2:
        raise UserError(f"--cv needs at least 2 folds, not {k}.")
    dataset = load_fit_data(cfg)
    check_labelled(dataset)
    pool, folds_pos = _folds(dataset, cfg, k)
    folds, hits, total, t0 = [], 0, 0, time.perf_counter()
    with RecordedRun(
        store,
        "cv",
        {"k": k, "fit": cfg.to_dict()},
        seed=cfg.seed,
        data_fingerprint=dataset.fingerprint,
    ) as run:
        for i, (_, test_pos) in enumerate(folds_pos):
            splits = _fold_splits(
                pool, dataset.labels, test_pos, cfg.data.val_fraction, cfg.seed + i
            )
            r = fit(
                config=dataclasses.replace(cfg),
                dataset=dataset,
                splits=splits,
                store=store,
                parent=run.id,
                record={"fold": i, "cv": run.id},
            )
            folds.append(
                {
                    "fold": i,
                    "run": r.run_id,
                    **{m: r.metrics.get(m) for m in SUMMARY},
                    "n_test": len(splits.test),
                }
            )
            hits += round(r.metrics["test_accuracy"] * len(splits.test))
            total += len(splits.test)
        summary = {
            m: t_interval([f[m] for f in folds if f[m] is not None], bounds=(0.0, 1.0)).as_dict()
            for m in SUMMARY
        }
        pooled = hits / max(total, 1)
        run.finish(
            {"cv_mean_accuracy": summary["test_accuracy"]["mean"], "cv_pooled_accuracy": pooled},
            {"total": time.perf_counter() - t0},
            folds=folds,
            summary=summary,
        )
    return CVResult(run.id, folds, summary, pooled)
