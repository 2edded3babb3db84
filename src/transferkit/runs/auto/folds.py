"""Stage 4 of the search on small data: the k-fold stage (see :mod:`transferkit.search.folds`
for why and when). Every cheap strategy and the few best trials are trained again on k seeded
stratified folds of the labelled pool, each fold model predicting the fold it did not see: the
out-of-fold (OOF) probabilities of every labelled example, by which the search chooses and
ensembles. The fold models are kept: averaged, they are the configuration's final model
(bagging), each having trained on (k-1)/k of the labels.

Each finished fold is noted in the search record at once (its run and its held-out
predictions, saved in the fold run's folder), so a search killed here resumes without redoing
finished folds.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from transferkit import progress
from transferkit.data.splits import Splits
from transferkit.evaluation.metrics import softmax
from transferkit.evaluation.predict import predict_logits
from transferkit.runs.auto.search import Search, in_store
from transferkit.runs.predict import load_run_model
from transferkit.search.folds import fold_seconds, plan_selection, stratified_folds
from transferkit.search.space import SearchSpace
from transferkit.store.artifacts import load_predictions, save_predictions
from transferkit.strategies import STRATEGIES

OOF = "oof_predictions.npz"
KFOLD_TRIALS = 3  # the best trials (by validation) that get the k-fold treatment


def row_key(row: dict[str, Any]) -> str:
    """A leaderboard row's name as a candidate of the ensemble."""
    if row.get("kind") == "trial":
        return f"trial {row['trial']}"
    size = f" @{row['image_size']}px" if row.get("image_size") else ""
    return f"{row['strategy']} {row['model']}{size}"


def kfold_stage(search: Search, board: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The OOF results of the configurations the budget allowed: key -> {"runs": fold runs
    (their average is the configuration's final model), "proba": (len(pool), K) OOF
    probabilities}. Configurations whose folds did not all finish are left out."""
    pool = search.pool
    y = search.dataset.labels[pool]
    held = stratified_folds(y, search.cfg.folds, search.cfg.seed)
    saved: dict[str, list] = dict(search.done.get("folds", {}))
    found = _fold_runs_in_store(search) if search.clock.before else {}
    for (key, i), run in found.items():
        # a fold that finished just before a kill, before the record noted it
        runs = saved.setdefault(key, [None] * len(held))
        if i < len(runs) and runs[i] is None:
            runs[i] = run
    out: dict[str, dict[str, Any]] = {}
    with search.clock.stage("folds"):
        for row in kfold_rows(board):
            key = row_key(row)
            if key not in saved and not _fits(search, row):
                progress.info(f"auto: no time left to cross-validate {key}; left out")
                continue
            result = _cross_validate(search, row, key, held, saved)
            if result is not None:
                out[key] = result
    return out


def kfold_rows(board: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configurations the stage treats, in order: every completed cheap run (fastest
    first), then the :data:`KFOLD_TRIALS` best completed trials by validation."""
    done = [r for r in board if r.get("state") == "complete" and r.get("val") is not None]
    cheap = sorted((r for r in done if r["kind"] == "cheap"), key=lambda r: r.get("seconds") or 0)
    trials = [r for r in done if r["kind"] == "trial"][:KFOLD_TRIALS]  # board: best first
    return cheap + trials


def _fits(search: Search, row: dict[str, Any]) -> bool:
    """Whether the estimated time of this configuration's folds fits in what is left."""
    need = fold_seconds(row, len(search.pool), len(search.splits.train), search.cfg.folds)
    return search.clock.left() - search.reserve() > need


def _cross_validate(
    search: Search, row: dict[str, Any], key: str, held: list[np.ndarray], saved: dict
) -> dict[str, Any] | None:
    """This configuration's OOF probabilities and fold runs (None when time ran out)."""
    pool, dataset = search.pool, search.dataset
    proba = np.full((len(pool), dataset.num_classes), np.nan, np.float32)
    if not STRATEGIES.get(row["strategy"]).learns_from_labels:
        # its model never reads the labels: one run scores every labelled example at once
        run = _local_run(search, row)
        start = time.perf_counter()
        proba[:] = _predict(search, run, pool)
        per_item = (time.perf_counter() - start) / len(pool)
        return {"runs": [run], "proba": proba, "seconds_per_item": per_item}
    runs: list[str | None] = list(saved.get(key) or [None] * len(held))
    settings = fold_settings(search, row)
    timed = []
    for i, fold in enumerate(held):
        got = _finished_fold(search, runs[i], pool[fold])
        if got is None:
            if search.clock.left() <= search.reserve():
                return None
            runs[i], got, seconds = _run_fold(search, settings, key, i, fold)
            timed.append((seconds, len(fold)))
            saved[key] = runs
            search.save(folds=saved)
        proba[fold] = got
    return {"runs": runs, "proba": proba, "seconds_per_item": _per_item(timed)}


def _per_item(timed: list[tuple[float, int]]) -> float | None:
    """Seconds per example of a fold model's prediction (the fastest fold measured here), or
    None when every fold was finished before."""
    return min((s / n for s, n in timed if n), default=None)


def fold_settings(search: Search, row: dict[str, Any]) -> dict[str, Any]:
    """``fit_once``'s settings of a configuration's fold runs: a cheap run's model, strategy
    and size; a trial's recipe trained for the epochs its validation chose."""
    if row["kind"] != "trial":
        return {"model": row["model"], "strategy": row["strategy"], "image_size": row["image_size"]}
    settings = SearchSpace([], [], [], search.cfg.max_epochs).overrides(row["params"])
    settings["epochs"] = best_epoch(search, row)
    return settings


def best_epoch(search: Search, row: dict[str, Any]) -> int:
    """The epoch a trial's validation chose: its run's record says, else its curve's first
    best epoch (a trial another worker ran)."""
    if in_store(search.store, row.get("run")):
        best = search.store.get(row["run"]).extra.get("strategy_info", {}).get("best_epoch")
        if best:
            return int(best)
    curve = row.get("curve") or []
    return int(np.argmax(curve)) + 1 if curve else search.cfg.max_epochs


def _run_fold(
    search: Search, settings: dict[str, Any], key: str, i: int, fold: np.ndarray
) -> tuple[str, np.ndarray, float]:
    """Train fold ``i`` on the rest of the pool (no validation split: nothing is selected on
    the held-out fold) and predict the fold; the prediction is saved in the fold run. Returns
    the run, the prediction and the seconds the prediction took."""
    pool, y = search.pool, search.dataset.labels
    train = np.delete(pool, fold)
    empty = np.empty(0, np.int64)
    progress.info(f"auto: {key}, fold {i + 1} of {search.cfg.folds}")
    r = search.fit_once(
        **settings,
        splits=Splits(train, empty, empty),
        record={"candidate": key, "fold": i, "folds": search.cfg.folds},
    )
    start = time.perf_counter()
    proba = _predict_model(search, r.model, pool[fold])
    seconds = time.perf_counter() - start
    save_predictions(r.artifact_dir, pool[fold], y[pool[fold]], proba, name=OOF)
    return r.run_id, proba, seconds


def _finished_fold(search: Search, run: str | None, held: np.ndarray) -> np.ndarray | None:
    """The held-out predictions of a fold an earlier call finished (predicted again from its
    model when the kill came before they were saved), or None."""
    if not in_store(search.store, run) or search.store.get(run).status != "done":
        return None
    folder = search.store.artifact_dir(run)
    saved = load_predictions(folder, name=OOF)
    if saved is not None and np.array_equal(saved["indices"], held):
        return saved["proba"]
    proba = _predict(search, run, held)
    save_predictions(folder, held, search.dataset.labels[held], proba, name=OOF)
    return proba


def _fold_runs_in_store(search: Search) -> dict[tuple[str, int], str]:
    """The finished fold runs of this search in the store, by (candidate, fold)."""
    found = {}
    for r in search.store.list(kind="fit", status="done", limit=None):
        if r.parent == search.run.id and "fold" in r.extra:
            found[(r.extra.get("candidate"), int(r.extra["fold"]))] = r.id
    return found


def _local_run(search: Search, row: dict[str, Any]) -> str:
    """The row's run in this machine's store (a cheap run always is)."""
    if in_store(search.store, row.get("run")):
        return row["run"]
    return search.fit_once(**fold_settings(search, row)).run_id


def _predict(search: Search, run: str, indices: np.ndarray) -> np.ndarray:
    model, _, _ = load_run_model(run, search.store)
    return _predict_model(search, model, indices)


def _predict_model(search: Search, model, indices: np.ndarray) -> np.ndarray:
    logits = predict_logits(
        model, search.dataset, indices, device=search.device, description="held-out fold"
    )
    return softmax(logits).astype(np.float32)


def decide_selection(search: Search, cheap_rows: list[dict[str, Any]]) -> None:
    """Choose by k-fold on every label or by the validation split
    (:func:`~transferkit.search.folds.plan_selection`), once per search: a resumed search
    keeps its mode. A fallback to validation is said on the terminal and kept in the record."""
    if "selection" in search.done:
        search.selection = search.done["selection"]
        return
    cfg, pool = search.cfg, search.pool
    done = [r for r in cheap_rows if r.get("state") == "complete"]
    cheap_s = sum(fold_seconds(r, len(pool), len(search.splits.train), cfg.folds) for r in done)
    sel = plan_selection(
        search.dataset.labels[pool],
        search.dataset.num_classes,
        cfg,
        left=search.clock.left() - search.reserve(),
        cheap_s=cheap_s,
        budget_s=search.clock.budget_s,
    )
    if sel.get("fallback"):
        progress.info(f"auto: {sel['reason']}")
    search.selection = sel
    search.save(selection=sel)
