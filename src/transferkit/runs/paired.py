"""``runs compare A B``: two finished runs side by side, with a paired test when they share
their test examples (McNemar's exact test and a bootstrap interval of the accuracy gap)."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.errors import UserError
from transferkit.evaluation.compare import check_comparable
from transferkit.evaluation.stats import bootstrap_diff, mcnemar
from transferkit.store import RunStore
from transferkit.store.artifacts import load_predictions

KEYS = (
    "test_accuracy",
    "test_balanced_accuracy",
    "test_macro_f1",
    "test_nll",
    "test_ece",
    "val_accuracy",
)


def compare_runs(a: str, b: str, store: RunStore | None = None) -> dict[str, Any]:
    store = store or RunStore()
    ra, rb = store.get(a), store.get(b)
    for r in (ra, rb):
        if r.status != "done":
            raise UserError(f"Run {r.id} is {r.status}; only finished runs can be compared.")
    check_comparable([ra, rb])
    out: dict[str, Any] = {
        "a": ra.id,
        "b": rb.id,
        "metrics": {
            k: {"a": ra.metrics.get(k), "b": rb.metrics.get(k)}
            for k in KEYS
            if k in ra.metrics or k in rb.metrics
        },
    }
    for v in out["metrics"].values():
        if v["a"] is not None and v["b"] is not None:
            v["a_minus_b"] = v["a"] - v["b"]
    pa = load_predictions(store.artifact_dir(ra.id))
    pb = load_predictions(store.artifact_dir(rb.id))
    if pa is not None and pb is not None and np.array_equal(pa["indices"], pb["indices"]):
        ca = pa["proba"].argmax(1) == pa["labels"]
        cb = pb["proba"].argmax(1) == pb["labels"]
        diff, lo, hi = bootstrap_diff(ca, cb)
        out["paired"] = {
            "n": int(len(ca)),
            "accuracy_diff": diff,
            "ci_low": lo,
            "ci_high": hi,
            **mcnemar(ca, cb),
        }
    else:
        out["paired"] = None
        out["note"] = (
            "The runs were tested on different examples (other seed or split), so "
            "no paired test is possible; use `transferkit compare` for paired seeds."
        )
    return out
