"""benchmarks/auto_replay.py: the selection rules replayed on planted recorded searches pick what
each rule says, and the recording predicts a candidate's runs exactly as the run's own model
does while computing the features of a shared frozen backbone once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import auto_replay as R  # noqa: E402

K = 2


def _proba(correct: np.ndarray, y: np.ndarray, right: float, wrong: float) -> np.ndarray:
    """Probabilities with ``right`` on the true class where ``correct``, else ``wrong`` on the
    other class."""
    true = np.where(correct, right, 1 - wrong).astype(np.float32)
    p = np.empty((len(y), K), np.float32)
    p[np.arange(len(y)), y] = true
    p[np.arange(len(y)), 1 - y] = 1 - true
    return p


def _plant(folder: Path, cands: list[dict], pool_p, test_p, y, test_y, val, name) -> Path:
    """A recorded search in the format record_search writes."""
    arrays = {
        "pool": np.arange(len(y), dtype=np.int64),
        "y": y,
        "val": val,
        "test": np.arange(100, 100 + len(test_y), dtype=np.int64),
        "test_y": test_y,
        "tested": np.array([p is not None for p in test_p]),
    }
    for i, (p, t) in enumerate(zip(pool_p, test_p)):
        arrays[f"proba_{i}"] = p
        if t is not None:
            arrays[f"test_proba_{i}"] = t.astype(np.float16)
    npz = folder / f"{name}.npz"
    np.savez_compressed(npz, **arrays)
    meta = {"candidates": cands, "ensemble": {}, "search": "r-planted", "test_accuracy": 0.5}
    (folder / f"{name}.json").write_text(json.dumps(meta))
    return npz


def _cand(key, kind, val, oof=None, source="oof", **extra) -> dict:
    return {
        "key": key,
        "kind": kind,
        "model": "m",
        "strategy": "linear" if kind == "cheap" else "finetune",
        "image_size": 64,
        "params": {},
        "source": source,
        "runs": [f"run-{key}"],
        "val": val,
        "oof": oof,
        "n_val": 10,
        "seconds": 1.0,
        **extra,
    }


@pytest.fixture
def planted(tmp_path) -> R.Recorded:
    """Four candidates on 40 labelled examples (the last 10 the validation split) and 40 test
    examples. a and b both score 0.9 on validation (a more confidently) and are wrong on
    disjoint tenths, hesitantly, so that their average is right everywhere; cheap scores 0.8 on
    validation and is right on four in five test examples; u is uniform and has no test
    predictions."""
    rng = np.random.default_rng(0)
    i = np.arange(40)
    y, test_y = rng.integers(0, K, 40), rng.integers(0, K, 40)
    val = np.arange(30, 40, dtype=np.int64)
    a = _proba(~(((i >= 20) & (i < 30)) | (i == 30)), y, 0.9, 0.6)
    b = _proba(~(((i >= 10) & (i < 20)) | (i == 39)), y, 0.8, 0.6)
    cheap = _proba(i % 3 != 0, y, 0.8, 0.95)
    useless = np.full((40, K), 0.5, np.float32)
    ta = _proba(~((i >= 20) & (i < 30)), test_y, 0.9, 0.6)
    tb = _proba(~((i >= 10) & (i < 20)), test_y, 0.8, 0.6)
    tcheap = _proba(i % 5 != 0, test_y, 0.8, 0.95)
    cands = [
        _cand("cheap", "cheap", 0.8, 0.65),
        _cand("a", "trial", 0.9, 0.725, trial=1),
        _cand("b", "trial", 0.9, 0.725, trial=2),
        _cand("u", "trial", 0.5, 0.5, trial=3),
    ]
    npz = _plant(
        tmp_path, cands, [cheap, a, b, useless], [tcheap, ta, tb, None], y, test_y, val, "t_s3_auto"
    )
    return R.Recorded(npz)


def test_argmax_val_breaks_a_tie_by_validation_log_loss(planted):
    # a and b both score 0.9 on validation; a is more confident where right
    assert planted.val_nll(1) < planted.val_nll(2)
    assert R.argmax_val(planted) == {1: 1.0}


def test_one_se_keeps_the_cheap_strategy_when_the_trial_is_not_ahead_by_one_se(planted):
    # best trial 0.9 vs cheap 0.8 on 10 validation examples: one SE is sqrt(.16/10) = 0.126
    assert R.one_se(planted) == {0: 1.0}
    assert planted.test_accuracy({0: 1.0}) == pytest.approx(0.8)
    assert planted.test_accuracy({1: 1.0}) == pytest.approx(0.75)


def test_oracle_single_is_the_best_tested_candidate_and_untested_picks_score_none(planted):
    tests = {i: planted.test_accuracy({i: 1.0}) for i in planted.test_proba}
    assert R.oracle_single(planted) == {max(tests, key=tests.get): 1.0}
    assert planted.test_accuracy({3: 1.0}) is None  # u has no test predictions


def test_argmax_oof_reads_oof_scores(planted):
    planted.cands[0]["oof"] = 0.95  # cheap is now best out-of-fold, still worst by validation
    assert R.argmax_oof(planted) == {0: 1.0}
    assert R.argmax_val(planted) == {1: 1.0}


def test_ensemble_picks_the_complementary_pair_and_scores_it_on_test(planted):
    pytest.importorskip("transferkit.search.ensemble")
    a = SimpleNamespace(max_members=5, seed=0)
    weights = R.ensemble(planted, a)
    assert set(weights) == {1, 2}
    assert planted.test_accuracy(weights) == 1.0
    assert max(planted.test_accuracy({i: 1.0}) for i in (0, 1, 2)) < 1.0


def test_replay_and_markdown_over_planted_files(tmp_path, planted):
    out = tmp_path / "out"
    R.main(["--records", str(planted.path.parent), "--out-dir", str(out), "--name", "rp"])
    data = json.loads((out / "rp.json").read_text())
    (row,) = data["searches"]
    assert (row["target"], row["seed"], row["method"]) == ("t", 3, "auto")
    assert row["rules"]["one_se"]["test"] == pytest.approx(0.8)
    assert row["rules"]["recorded"] is None  # the planted search recorded no ensemble
    text = (out / "rp.md").read_text()
    assert "## auto" in text and "| t | 3 |" in text and "Machine:" in text
    # one_se is 80% vs argmax_val's 75% on the one seed: +5 points
    assert "80.0 ± n/a (+5.00)" in text


def test_record_search_predicts_each_candidate_as_its_runs_do_sharing_frozen_features(tmp_path):
    import transferkit
    from transferkit.data import load_dataset
    from transferkit.evaluation.metrics import softmax
    from transferkit.evaluation.predict import predict_logits
    from transferkit.runs.predict import load_run_model
    from transferkit.store import RunStore

    fast = dict(model="tiny-cnn", image_size=32, batch_size=32, seed=0)
    lin1 = transferkit.fit("builtin:digits", strategy="linear", labels_per_class=10, **fast)
    lin2 = transferkit.fit("builtin:digits", strategy="linear", labels_per_class=20, **fast)
    ft = transferkit.fit(
        "builtin:digits", strategy="finetune", labels_per_class=10, epochs=1, **fast
    )
    store, dataset = RunStore(), load_dataset("builtin:digits")
    # the first run stands in for the search: its folder gets the candidates files
    folder = store.artifact_dir(lin1.run_id)
    cands = [
        _cand("lin", "cheap", 0.8, None, source="val", runs=[lin1.run_id, lin2.run_id]),
        _cand("ft", "trial", 0.7, None, source="val", runs=[ft.run_id]),
    ]
    (folder / "candidates.json").write_text(json.dumps(cands))
    pool = np.arange(50, dtype=np.int64)
    np.savez(
        folder / "candidates.npz",
        pool=pool,
        y=dataset.labels[pool],
        val=pool[:10],
        proba_0=np.full((50, 10), 0.1, np.float32),
        proba_1=np.full((50, 10), 0.1, np.float32),
    )
    test = np.arange(1000, 1200, dtype=np.int64)
    out = tmp_path / "rec" / "digits_s0_auto.npz"
    got = R.record_search(store, lin1.run_id, dataset, test, out, top=0)
    assert got["tested"] == 2 and got["candidates"] == 2

    def own(run):
        model, _, _ = load_run_model(run, store)
        return softmax(predict_logits(model, dataset, test, shard=False))

    r = R.Recorded(out)
    want = {0: (own(lin1.run_id) + own(lin2.run_id)) / 2, 1: own(ft.run_id)}
    for i, p in want.items():
        np.testing.assert_allclose(r.test_proba[i], p, atol=2e-3)
    assert not np.allclose(want[0], want[1], atol=1e-2)  # the candidates really differ
    np.testing.assert_array_equal(r.test_y, dataset.labels[test])
    # the two linear probes share the frozen backbone: two feature passes for three runs
    assert r.meta["distinct_backbones"] == 2


def test_auto_transfer_report_lines_of_issue_31():
    import _common as C
    from auto_transfer_report import markdown

    cells = []
    for seed, (new, old, lin, ft) in {0: (0.70, 0.80, 0.5, 0.5), 3: (0.75, 0.72, 0.65, 0.70),
                                       4: (0.77, 0.73, 0.66, 0.60)}.items():  # fmt: skip
        for method, acc in (("auto", new), ("auto_old", old), ("linear", lin), ("finetune", ft)):
            cell = {"target": "t", "seed": seed, "method": method, "test": acc, "wall_s": 990.0}
            if method.startswith("auto"):
                ens = {"members": 3, "prediction_time_ratio": 2.5} if method == "auto" else None
                cell.update(budget_s=900.0, complete=2, trials=5, chosen={}, ensemble=ens)
            cells.append({**cell, "cpu_s": 1800.0})
    cells.append({"target": "t", "seed": 0, "method": "oracle", "test": 0.72, "wall_s": 9.0,
                  "best": {"strategy": "linear", "model": "m"}, "cells": []})  # fmt: skip
    head = {**C.header(), "result_seeds": [3, 4]}
    text = markdown({"header": head, "cells": cells}).split("## Targets of issue 31")[1]
    # seeds 3 and 4 only: auto - auto_old = (3 + 4) / 2, auto - max(defaults) = (5 + 11) / 2
    assert "| t | +3.5 (2 seeds) | +8.0 (2 seeds) | 1.10 | 2.5x (max 2.5x) | 2.0 |" in text
    assert "CPU hours spent: auto 1.50, auto_old 1.50, linear 1.50, finetune 1.50" in text
