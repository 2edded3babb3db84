"""The library the search chooses from: every configuration it finished, with the held-out
class probabilities it is judged by - out-of-fold on every labelled example (the k-fold stage,
small data) or on the validation split - and the runs whose average is its final model.

The library is written beside the search record (``candidates.json`` + ``candidates.npz``: no
pickle), so that selection and ensembling rules can be replayed on a finished search without
training anything again (``benchmarks/auto_replay.py``); the test split is never in it.
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import numpy as np

from transferkit.runs.auto.folds import kfold_stage, row_key
from transferkit.runs.auto.search import Search, in_store
from transferkit.search.ensemble import objective
from transferkit.store.artifacts import (
    VAL_PREDICTIONS,
    atomic_write_bytes,
    atomic_write_json,
    load_predictions,
)

JSON, NPZ = "candidates.json", "candidates.npz"


@dataclasses.dataclass
class Candidate:
    """One finished configuration: its leaderboard row, the runs whose averaged probabilities
    are its model, and its held-out probabilities over the pool (NaN rows: not held out)."""

    key: str
    row: dict[str, Any]
    runs: list[str]
    proba: np.ndarray
    source: str  # "oof" (every labelled example) or "val" (the validation split)
    seconds_per_item: float | None = None  # one run's prediction, as measured on its fold


def library(search: Search, board: list[dict[str, Any]]) -> list[Candidate]:
    """The candidates of the search's selection mode (see :class:`Search.selection`)."""
    if search.selection["mode"] == "oof":
        rows = {row_key(r): r for r in board if r.get("state") == "complete"}
        return [
            Candidate(key, rows[key], got["runs"], got["proba"], "oof", got["seconds_per_item"])
            for key, got in kfold_stage(search, board).items()
        ]
    return _val_library(search, board)


def _val_library(search: Search, board: list[dict[str, Any]]) -> list[Candidate]:
    """Every completed configuration of this machine's store with validation predictions."""
    pool = search.pool
    where = np.searchsorted(pool, search.splits.val)
    out = []
    for r in board:
        if r.get("state") != "complete" or not in_store(search.store, r.get("run")):
            continue
        saved = load_predictions(search.store.artifact_dir(r["run"]), name=VAL_PREDICTIONS)
        if saved is None or len(saved["indices"]) != len(where):
            continue
        proba = np.full((len(pool), saved["proba"].shape[1]), np.nan, np.float32)
        proba[np.searchsorted(pool, saved["indices"])] = saved["proba"]
        out.append(Candidate(row_key(r), r, [r["run"]], proba, "val"))
    return out


def judged_rows(search: Search, candidates: list[Candidate]) -> np.ndarray:
    """The positions in the pool every candidate is judged on: all of them out-of-fold, or
    the validation split's."""
    if candidates and candidates[0].source == "oof":
        return np.arange(len(search.pool))
    return np.searchsorted(search.pool, search.splits.val)


def write_library(search: Search, candidates: list[Candidate]) -> None:
    """``candidates.json`` and ``candidates.npz`` beside the search record."""
    rows = [
        {
            "key": c.key,
            "kind": c.row.get("kind"),
            "model": c.row.get("model"),
            "strategy": c.row.get("strategy"),
            "image_size": c.row.get("image_size"),
            "params": c.row.get("params"),
            "trial": c.row.get("trial"),
            "source": c.source,
            "runs": c.runs,
            "val": c.row.get("val"),
            "val_nll": c.row.get("val_nll"),
            "oof": c.row.get("oof"),
            "n_val": c.row.get("n_val"),
            "seconds": c.row.get("seconds"),
            "curve": c.row.get("curve"),
        }
        for c in candidates
    ]
    pool = search.pool
    arrays = {
        "pool": pool.astype(np.int64),
        "y": search.dataset.labels[pool].astype(np.int64),
        "val": np.asarray(search.splits.val, np.int64),
        **{f"proba_{i}": c.proba.astype(np.float32) for i, c in enumerate(candidates)},
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(search.run.dir / NPZ, buf.getvalue())
    atomic_write_json(search.run.dir / JSON, json.loads(json.dumps(rows, default=str)))


def annotate(search: Search, candidates: list[Candidate], weights: dict[str, float] | None) -> None:
    """Each candidate's leaderboard row gets its out-of-fold accuracy and log-loss, and its
    weight in the ensemble."""
    y = search.dataset.labels[search.pool]
    for c in candidates:
        if c.source == "oof":
            c.row["oof"], c.row["oof_nll"] = objective(c.proba, y)
        if weights and weights.get(c.key):
            c.row["weight"] = round(float(weights[c.key]), 4)
