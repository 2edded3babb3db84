"""Paired comparisons, cross-validation and run-vs-run comparison, on real tiny fits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from transferkit.errors import UserError
from transferkit.evaluation.stats import mcnemar, t_interval, verdict
from transferkit.runs.compare import compare
from transferkit.runs.cv import cross_validate
from transferkit.runs.paired import compare_runs
from transferkit.store import RunStore

TINY = dict(model="tiny-cnn", image_size=32, epochs=1, batch_size=32)


def test_t_interval_and_verdicts():
    iv = t_interval([0.80, 0.82, 0.84])
    assert iv.mean == pytest.approx(0.82)
    assert iv.low == pytest.approx(0.82 - 4.302653 * 0.02 / np.sqrt(3), abs=1e-5)
    assert t_interval([0.5]).low is None
    # A wide interval on few seeds stays inside the range the quantity can take.
    wide = t_interval([0.765, 0.835], bounds=(0.0, 1.0))
    assert wide.high == 1.0 and 0.0 < wide.low < wide.mean
    assert t_interval([0.765, 0.835]).high > 1.0
    assert "beats linear by 2.0 points" in verdict(
        "finetune", "linear", t_interval([0.02, 0.021, 0.019]), "at 10 labels per class"
    )
    assert "not distinguishable" in verdict("a", "b", t_interval([0.02, -0.03, 0.01]), "here")
    assert mcnemar(np.array([1, 1, 0, 1]), np.array([1, 0, 0, 0]))["only_a_correct"] == 2


def test_compare_is_paired_recorded_and_reuses_cells():
    res = compare(
        "builtin:digits",
        strategies=["linear", "scratch"],
        labels_per_class=[10, 20],
        seeds=2,
        **TINY,
    )
    assert len(res.members) == 8 and res.reused == 0
    store = RunStore()
    rec = store.get(res.compare_id)
    assert rec.kind == "compare" and rec.status == "done"
    assert {m["run"] for m in rec.extra["members"]} == {m["run"] for m in res.members}
    for m in res.members:
        assert store.get(m["run"]).parent == res.compare_id
    # paired: both strategies of a (seed, budget) cell saw the same test examples
    from transferkit.store.artifacts import load_predictions

    cell = [m for m in res.members if m["seed"] == 1 and m["labels_per_class"] == 20]
    preds = [load_predictions(store.artifact_dir(m["run"])) for m in cell]
    assert np.array_equal(preds[0]["indices"], preds[1]["indices"])
    row = next(r for r in res.table if r["strategy"] == "linear" and r["labels_per_class"] == 10)
    assert row["n"] == 2 and row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert len(res.paired) == 2 and len(res.verdicts) == 2
    again = compare(
        "builtin:digits",
        strategies=["linear", "scratch"],
        labels_per_class=[10, 20],
        seeds=2,
        **TINY,
    )
    assert again.reused == 8
    assert [r["mean"] for r in again.table] == [r["mean"] for r in res.table]


def test_compare_refuses_budget_beyond_data_before_training():
    with pytest.raises(UserError, match="labels"):
        compare(
            "builtin:digits", strategies=["linear"], labels_per_class=[10, 100000], seeds=1, **TINY
        )
    assert RunStore().list(kind="fit") == []


def test_cross_validation_folds_and_refusals():
    res = cross_validate("builtin:digits", k=3, strategy="linear", labels_per_class=12, **TINY)
    assert len(res.folds) == 3
    tests = [
        set(np.load(RunStore().artifact_dir(f["run"]) / "test_predictions.npz")["indices"])
        for f in res.folds
    ]
    assert not (tests[0] & tests[1]) and not (tests[1] & tests[2])
    assert sum(len(t) for t in tests) == 120
    assert 0 <= res.pooled_accuracy <= 1
    assert RunStore().get(res.cv_id).metrics["cv_pooled_accuracy"] == pytest.approx(
        res.pooled_accuracy
    )
    with pytest.raises(UserError, match="folds"):
        cross_validate("builtin:digits", k=13, strategy="linear", labels_per_class=12, **TINY)


@pytest.mark.slow
def test_runs_compare_paired_and_refuses_other_data():
    a = compare(
        "builtin:digits", strategies=["linear", "scratch"], labels_per_class=[10], seeds=1, **TINY
    )
    ra, rb = a.members[0]["run"], a.members[1]["run"]
    out = compare_runs(ra, rb)
    assert out["paired"]["n"] > 0 and 0 <= out["paired"]["p_value"] <= 1
    p = run_cli("runs", "compare", ra, rb, "--json", check=0)
    assert json.loads(p.stdout)["paired"]["n"] == out["paired"]["n"]
    other = compare("builtin:mnist5k", strategies=["linear"], labels_per_class=[5], seeds=1, **TINY)
    p = run_cli("runs", "compare", ra, other.members[0]["run"])
    assert p.returncode == 2 and "different data" in p.stderr


@pytest.mark.slow
def test_cli_compare_and_cv():
    p = run_cli(
        "compare",
        "--data",
        "builtin:digits",
        "--strategies",
        "linear,scratch",
        "--labels-per-class",
        "10",
        "--seeds",
        "2",
        "--model",
        "tiny-cnn",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--json",
        check=0,
    )
    out = json.loads(p.stdout)
    assert len(out["table"]) == 2 and len(out["verdicts"]) == 1
    # compare's own lists stay out of the base fit it records (each cell sets its own)
    base = RunStore().get(out["compare"]).config["base"]
    assert base["data"]["labels_per_class"] is None and base["strategy"] == "linear-or-finetune"
    p = run_cli(
        "fit",
        "--data",
        "builtin:digits",
        "--strategy",
        "linear",
        "--model",
        "tiny-cnn",
        "--image-size",
        "32",
        "--labels-per-class",
        "10",
        "--cv",
        "20",
    )
    assert p.returncode == 2 and "fold" in p.stderr.lower()
