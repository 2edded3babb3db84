"""The end of the search: the chosen configuration's run on this machine (trained here when
another worker ran it), then its model on the test split, read here for the first and only
time; the metrics are recorded in the winning run and in the search."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit import progress
from transferkit.data.base import Dataset
from transferkit.evaluation.metrics import calibration_bins, classification_metrics, softmax
from transferkit.evaluation.predict import predict_logits
from transferkit.runs._transfer import FitResult
from transferkit.runs.auto.candidates import Candidate
from transferkit.runs.auto.search import Search, in_store
from transferkit.runs.auto.select import Choice, members
from transferkit.runs.ensemble import record_ensemble
from transferkit.runs.predict import load_run_model
from transferkit.search.space import SearchSpace
from transferkit.store import RunStore
from transferkit.store.artifacts import save_predictions


def finish(
    search: Search, choice: Choice, candidates: list[Candidate]
) -> tuple[dict[str, Any], FitResult | None, dict[str, Any]]:
    """The chosen model on the test split, read here for the only time: (the chosen row, the
    model as a FitResult, its test metrics). An ensemble of several runs (several
    configurations, or one configuration's fold models) is recorded as one run."""
    dataset, test = search.dataset, search.splits.test
    group = members(candidates, choice.weights) if choice.weights else []
    if len(group) <= 1:
        chosen = {**choice.row, **({"run": group[0]["run"]} if group else {})}
        chosen = trained_here(search, chosen)
        winner, metrics = evaluate_winner(chosen, dataset, test, search.store, search.device)
        return chosen, winner, metrics
    res = record_ensemble(
        search.store,
        dataset,
        group,
        test=test,
        device=search.device,
        parent=search.run.id,
        record={"search": search.run.id},
    )
    chosen = {
        "kind": "ensemble",
        "strategy": "ensemble",
        "state": "complete",
        "model": choice.row.get("model"),
        "image_size": choice.row.get("image_size"),
        "run": res.run_id,
        "weights": choice.weights,
        "members": len(group),
    }
    return chosen, res, res.metrics


def trained_here(search: Search, chosen: dict[str, Any]) -> dict[str, Any]:
    """``chosen``, with its run in this machine's store: a trial another worker ran is
    trained again here with the same parameters (the full number of epochs, no pruning)."""
    if chosen.get("kind") != "trial" or in_store(search.store, chosen.get("run")):
        return chosen
    progress.info(f"auto: trial {chosen['trial']} ran on another worker; training it here")
    space = SearchSpace([], [], [], search.cfg.max_epochs)
    r = search.fit_once(
        **space.overrides(chosen["params"]),
        record={
            "trial": chosen["trial"],
            "params": chosen["params"],
            "refit_of": chosen.get("run"),
        },
    )
    return {
        **chosen,
        "run": r.run_id,
        "refit_of": chosen.get("run"),
        "refit_val": r.metrics.get(f"val_{search.cfg.metric}"),
    }


def evaluate_winner(
    chosen: dict[str, Any], dataset: Dataset, test: np.ndarray, store: RunStore, device
) -> tuple[FitResult | None, dict[str, Any]]:
    """(the winning run as a FitResult with its test metrics, those metrics)."""
    if not chosen.get("run"):
        return None, {}
    model, classes, run_id = load_run_model(chosen["run"], store)
    if len(test) == 0:
        metrics: dict[str, Any] = {}
    else:
        logits = predict_logits(model, dataset, test, device=device, description="test")
        proba = softmax(logits)
        y = dataset.labels[test]
        metrics = classification_metrics(y, proba, dataset.classes, prefix="test_")
        save_predictions(store.artifact_dir(run_id), test, y, proba)
        store.update(
            run_id,
            metrics=metrics,
            extra={"calibration": calibration_bins(y, proba), "tested_by_search": True},
        )
    rec = store.get(run_id)
    info = {
        **rec.extra.get("strategy_info", {}),
        "model": chosen.get("model"),
        "image_size": chosen.get("image_size"),
    }
    result = FitResult(
        run_id,
        chosen["strategy"],
        dict(rec.metrics),
        model,
        classes,
        rec.extra.get("history", []),
        info,
        store.artifact_dir(run_id),
        len(dataset.skipped),
    )
    return result, metrics
