"""The search on small data chooses with every label: out-of-fold predictions from fold models
that never saw the example, an ensemble of the best configurations recorded as one run (the
test split read once, by it), a library kept for replays, a resume that keeps finished folds,
and the bad settings of the k-fold and ensemble options refused with exit code 2."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest
from conftest import run_cli
from test_auto import DATA, _start

import transferkit
from transferkit.search.folds import stratified_folds
from transferkit.store import RunStore
from transferkit.store.artifacts import load_predictions


def _library(folder):
    rows = json.loads((folder / "candidates.json").read_text())
    with np.load(folder / "candidates.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return rows, arrays


def test_small_data_is_chosen_out_of_fold_by_fold_models_that_never_saw_the_example():
    t0 = time.perf_counter()
    res = transferkit.auto(
        "builtin:digits",
        models="tiny-cnn",
        budget="60s",
        labels_per_class=20,
        image_sizes=[16, 24],
        max_epochs=3,
        seed=0,
    )
    assert time.perf_counter() - t0 <= 1.1 * 60
    store = RunStore()
    search = store.get(res.run_id)
    assert search.extra["selection"]["mode"] == "oof", search.extra["selection"]
    rows, arrays = _library(res.artifact_dir)
    pool, y = arrays["pool"], arrays["y"]
    test = load_predictions(store.artifact_dir(res.chosen["run"]))["indices"]
    assert len(pool) == 10 * 20 and len(np.intersect1d(pool, test)) == 0
    held = stratified_folds(y, 5, 0)
    oof = [r for r in rows if r["source"] == "oof"]
    assert oof, rows
    for i, row in enumerate(rows):
        proba = arrays[f"proba_{i}"]
        assert not np.isnan(proba).any()  # every labelled example has a held-out prediction
        assert np.allclose(proba.sum(1), 1, atol=1e-4)
        if len(row["runs"]) == 1:
            continue  # a zero-shot model that never reads labels
        seen = []
        for fold, run_id in zip(held, row["runs"]):
            rec = store.get(run_id)
            saved = load_predictions(store.artifact_dir(run_id), name="oof_predictions.npz")
            assert sorted(saved["indices"].tolist()) == sorted(pool[fold].tolist())
            # trained on the rest of the pool only: no validation split, no test split
            assert rec.extra["splits"] == {
                **rec.extra["splits"],
                "train": len(pool) - len(fold),
                "val": 0,
                "test": 0,
            }
            assert "test_accuracy" not in rec.metrics
            seen += saved["indices"].tolist()
        assert sorted(seen) == sorted(pool.tolist())  # each labelled example exactly once
    # the ensemble (or the one model) is the only run that read the test split
    children = [r for r in store.list(limit=None) if r.parent == res.run_id]
    tested = [r.id for r in children if "test_accuracy" in r.metrics]
    assert tested == [res.chosen["run"]]
    assert 0.5 < res.metrics["test_accuracy"] <= 1.0
    weights = [r.get("weight") for r in res.leaderboard if r.get("weight")]
    assert weights and abs(sum(weights) - 1) < 1e-3
    shown = " ".join(run_cli("runs", "show", res.run_id, check=0).stdout.split())
    assert "oof/cv" in shown and "weight" in shown and "out-of-fold on every label" in shown


def test_without_an_ensemble_the_best_out_of_fold_configuration_is_kept():
    res = transferkit.auto(
        "builtin:digits",
        models="tiny-cnn",
        budget="30s",
        labels_per_class=20,
        image_sizes=[16],
        max_epochs=2,
        trials=1,
        seed=0,
        ensemble=False,
    )
    rows = [r for r in res.leaderboard if "oof" in r]
    best = max(rows, key=lambda r: (r["oof"], -r["oof_nll"]))
    assert res.why.startswith(f"{best['strategy']} {best['model']}") or res.why.startswith("trial")
    assert [r.get("weight") for r in rows if r.get("weight")] == [1.0]


@pytest.mark.slow
def test_a_search_killed_in_the_kfold_stage_resumes_without_redoing_finished_folds(tk_home):
    env = {**os.environ, "TRANSFERKIT_HOME": str(tk_home)}
    proc = _start(["auto", *DATA, "--budget", "60s", "--trials", "1"], env)
    store, deadline, search, folds = RunStore(tk_home), time.time() + 120, None, {}
    while time.time() < deadline and proc.poll() is None:
        searches = store.list(kind="auto")
        search = searches[0].id if searches else None
        folds = store.get(search).extra.get("folds", {}) if search else {}
        if any(sum(r is not None for r in runs) >= 2 for runs in folds.values()):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert folds and store.get(search).status == "interrupted", err[-3000:]
    out = run_cli("auto", "--resume", search, "--json", env_extra=env, check=0)
    assert json.loads(out.stdout)["run"] == search
    after = store.get(search).extra["folds"]
    for key, runs in folds.items():
        for before, now in zip(runs, after[key]):
            if before is not None:
                assert now == before  # a finished fold is kept, not trained again
    fold_runs = [
        (r.extra["candidate"], r.extra["fold"])
        for r in store.list(kind="fit", limit=None)
        if r.parent == search and r.status == "done" and "fold" in r.extra
    ]
    assert len(fold_runs) == len(set(fold_runs))  # no fold ran to the end twice


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--ensemble-size", "0"], "--no-ensemble to keep one model"),
        (["--folds", "1"], "at least 2 folds"),
        (["--folds", "21"], r"--folds 20 \(the largest that works\)"),
        (["--no-ensemble", "--ensemble-size", "3"], "drop one of the two"),
    ],
)
def test_bad_kfold_and_ensemble_settings_exit_2_naming_the_fix(args, says):
    import re

    r = run_cli("auto", *DATA, "--budget", "20s", *args)
    assert r.returncode == 2, r.stderr
    assert re.search(says, r.stderr), r.stderr
    assert "Traceback" not in r.stderr
