"""An ensemble recorded as one run: the end of an automatic search that keeps several models.

Read top to bottom: the members checked (finished runs with saved models of the data's
classes, positive weights summing to 1) -> one run of kind ``ensemble`` (its parent the
search) -> its ``model/`` folder, naming the members' saved model folders
(:mod:`transferkit.zoo.ensemble`) -> the test split predicted once per member, each timed ->
the blend, its test metrics and calibration, the test predictions -> the record finished with
its members, their weights and test accuracies, and the prediction time per item of the
ensemble against its heaviest member. ``predict --run``, ``explain``, ``report`` and
``runs show`` then treat the run as one model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit import distributed, progress, timing
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.evaluation.metrics import calibration_bins, classification_metrics
from transferkit.evaluation.predict import member_probabilities
from transferkit.runs._recorded import RecordedRun
from transferkit.runs._transfer import FitResult
from transferkit.store import RunRecord, RunStore
from transferkit.store.artifacts import save_predictions
from transferkit.zoo.checkpoint import load_model
from transferkit.zoo.ensemble import EnsembleModel, save_ensemble

KIND = "ensemble"
WEIGHT_TOLERANCE = 1e-6


def _checked(store: RunStore, dataset: Dataset, members: list[dict]) -> list[dict[str, Any]]:
    """``members`` with zero weights dropped, each with its record and model folder; refused
    unless every run finished with a saved model and the weights are positive and sum to 1."""
    kept = [dict(m) for m in members if float(m.get("weight", 0)) != 0]
    weights = np.asarray([float(m["weight"]) for m in kept], dtype=np.float64)
    if not kept or (weights < 0).any() or abs(weights.sum() - 1) > WEIGHT_TOLERANCE:
        raise ValueError(
            f"ensemble weights must be positive and sum to 1, not {[m.get('weight') for m in members]}"
        )
    for m in kept:
        rec = store.get(m["run"])
        folder = store.artifact_dir(rec.id) / "model"
        if rec.status != "done" or not (folder / "model.json").is_file():
            raise UserError(
                f"Run {rec.id} ({rec.kind}, {rec.status}) has no saved model, so it cannot be a "
                "member of an ensemble. Use finished fit runs."
            )
        m.update(run=rec.id, record=rec, folder=folder, label=m.get("label") or rec.id)
    return kept


def _config(members: list[dict[str, Any]], parent: str | None) -> dict[str, Any]:
    """What the record's config says: the members, the search that made it, and (for `runs
    list`) the members' models and the data the heaviest member was trained on."""
    heaviest = max(members, key=lambda m: m["weight"])["record"]
    models = list(dict.fromkeys(str(m["record"].config.get("model", "?")) for m in members))
    return {
        "strategy": KIND,
        "model": "+".join(models),
        "data": heaviest.config.get("data"),
        "search": parent,
        "members": [_entry(m) for m in members],
    }


def _entry(m: dict[str, Any]) -> dict[str, Any]:
    rec: RunRecord = m["record"]
    return {
        "run": rec.id,
        "weight": float(m["weight"]),
        "label": str(m["label"]),
        "config": m.get("config"),
        "model": rec.config.get("model"),
        "strategy": (rec.extra.get("strategy_info") or {}).get("chosen")
        or rec.config.get("strategy"),
    }


def record_ensemble(
    store: RunStore,
    dataset: Dataset,
    members: list[dict],
    *,
    test: np.ndarray,
    device,
    parent: str | None = None,
    record: dict | None = None,
) -> FitResult:
    """Record the ensemble of ``members`` (``[{"run", "weight", "label", "config"}]``, weights
    summing to 1; zero weights are left out) as one run of kind ``ensemble`` and evaluate it on
    ``test`` (read here once); returns it as a :class:`FitResult` (strategy ``ensemble``).
    With an empty ``test`` the run is recorded without metrics."""
    test = np.asarray(test, dtype=np.int64)
    kept = _checked(store, dataset, members)
    heaviest = max(range(len(kept)), key=lambda i: kept[i]["weight"])
    with (
        timing.collect() as stages,
        RecordedRun(
            store,
            KIND,
            _config(kept, parent),
            seed=kept[heaviest]["record"].seed,
            parent=parent,
            data_fingerprint=dataset.fingerprint,
        ) as run,
    ):
        run.note(dataset=dataset.summary(), **(record or {}))
        folder = run.dir / "model"
        if run.main:
            save_ensemble(folder, kept, list(dataset.classes))
        distributed.barrier()  # under torchrun the other ranks read the folder rank 0 wrote
        model, classes = load_model(folder)
        _check_classes(model, dataset)
        metrics: dict[str, Any] = {}
        entries = [_entry(m) for m in kept]
        extra: dict[str, Any] = {"members": entries}
        if len(test):
            with timing.stage("test"):
                metrics, proba, more = _evaluate(model, dataset, test, device, entries, heaviest)
            extra.update(more)
            if run.main:
                save_predictions(run.dir, test, dataset.labels[test], proba)
        run.finish(metrics, stages.timings(), **extra)
    progress.info(_summary(run.id, entries, metrics, extra.get("prediction_time")))
    return FitResult(
        run.id,
        KIND,
        metrics,
        model,
        classes,
        [],
        {"members": entries, "prediction_time": extra.get("prediction_time")},
        run.dir,
        len(dataset.skipped),
    )


def _check_classes(model: EnsembleModel, dataset: Dataset) -> None:
    if list(model.classes) != list(dataset.classes):
        raise UserError(
            f"The ensemble's members predict {model.classes[:10]}, but the data has the classes "
            f"{list(dataset.classes)[:10]}; an ensemble is evaluated on the data its members "
            "were trained on."
        )


def _evaluate(
    model: EnsembleModel,
    dataset: Dataset,
    test: np.ndarray,
    device,
    entries: list[dict[str, Any]],
    heaviest: int,
) -> tuple[dict[str, Any], np.ndarray, dict[str, Any]]:
    """The test metrics of the blend, its probabilities, and what the record keeps besides:
    the calibration bins and the prediction times (each member's test accuracy and time go
    into ``entries``)."""
    y = dataset.labels[test]
    probas, all_seconds = member_probabilities(
        model, dataset, test, device=device, description="test"
    )
    proba = np.asarray(
        sum(w * p.astype(np.float64) for w, (p, _) in zip(model.weights, probas)), np.float32
    )
    metrics = classification_metrics(y, proba, dataset.classes, prefix="test_")
    for entry, (p, seconds) in zip(entries, probas):
        entry["test_accuracy"] = float((p.argmax(1) == y).mean())
        entry["prediction_seconds_per_item"] = seconds / len(test)
    total = all_seconds / len(test)  # members sharing a backbone compute its features once
    single = entries[heaviest]["prediction_seconds_per_item"]
    timing_info = {
        "items": int(len(test)),
        "device": str(device),
        "seconds_per_item": total,
        "heaviest_member": entries[heaviest]["run"],
        "heaviest_member_seconds_per_item": single,
        "ratio": total / single if single > 0 else None,
    }
    return (
        metrics,
        proba,
        {"calibration": calibration_bins(y, proba), "prediction_time": timing_info},
    )


def _summary(run_id: str, entries: list[dict], metrics: dict, t: dict | None) -> str:
    """One line for the terminal: the run, its members, its test accuracy and time ratio."""
    text = f"ensemble {run_id}: {len(entries)} members"
    if "test_accuracy" in metrics:
        best = max(e.get("test_accuracy", 0.0) for e in entries)
        text += (
            f", test accuracy {100 * metrics['test_accuracy']:.1f}% (best member {100 * best:.1f}%)"
        )
    if t and t.get("ratio"):
        text += f", {t['ratio']:.1f}x the prediction time of its heaviest member"
    return text
