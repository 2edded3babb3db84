"""The k-fold plan of the search: folds that cover every labelled example once, the refusal of
more folds than the rarest class holds, and when the search chooses out-of-fold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.config import AutoConfig
from transferkit.errors import UserError
from transferkit.search.folds import (
    KFOLD_SHARE,
    check_folds,
    fold_seconds,
    plan_selection,
    stratified_folds,
    use_kfold,
)


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(5, 30), min_size=2, max_size=6),
    folds=st.integers(2, 5),
    seed=st.integers(0, 10),
)
def test_folds_hold_out_every_example_exactly_once_and_keep_every_class(counts, folds, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    held = stratified_folds(y, folds, seed)
    assert len(held) == folds
    together = np.concatenate(held)
    assert sorted(together.tolist()) == list(range(len(y)))  # each example once
    for fold in held:  # stratified: every class in every fold's training part
        rest = np.setdiff1d(np.arange(len(y)), fold)
        assert set(y[rest]) == set(range(len(counts)))
    assert [f.tolist() for f in stratified_folds(y, folds, seed)] == [f.tolist() for f in held]


def test_more_folds_than_the_rarest_class_names_the_largest_that_works():
    y = np.array([0] * 10 + [1] * 3)
    with pytest.raises(UserError, match=r"--folds 3 \(the largest that works\)"):
        check_folds(y, 4)
    check_folds(y, 3)
    with pytest.raises(UserError, match="at least two labelled examples"):
        check_folds(np.array([0, 0, 1]), 2)


def test_small_pools_are_cross_validated_below_the_threshold_only():
    y = np.repeat(np.arange(10), 49)
    assert use_kfold(y, 10, 50)
    assert not use_kfold(np.repeat(np.arange(10), 50), 10, 50)
    assert not use_kfold(y, 10, 0)  # --kfold-below 0: never


def test_the_plan_falls_back_to_validation_when_the_budget_is_too_small():
    y = np.repeat(np.arange(4), 10)
    cfg = AutoConfig(budget="100s")
    ok = plan_selection(y, 4, cfg, left=80.0, cheap_s=10.0, budget_s=100.0)
    assert ok["mode"] == "oof" and ok["folds"] == 5 and "out-of-fold" in ok["reason"]
    short = plan_selection(y, 4, cfg, left=10.0 + KFOLD_SHARE * 100 - 1, cheap_s=10.0, budget_s=100)
    assert short["mode"] == "val" and short["fallback"]
    assert "too small" in short["reason"] and "--budget" in short["reason"]
    big = plan_selection(np.repeat(np.arange(4), 60), 4, cfg, left=1e6, cheap_s=1, budget_s=100)
    assert big["mode"] == "val" and not big.get("fallback")


def test_fold_seconds_scale_with_the_epochs_chosen_and_the_pool():
    row = {"seconds": 100.0, "epochs": 10, "best_epoch": 5}
    # 5 folds, each on 4/5 of a pool of 100 where the trial trained on 80: 5 x 50 s
    assert fold_seconds(row, pool=100, train=80, folds=5) == pytest.approx(250.0)
    assert fold_seconds({"seconds": 2.0}, pool=100, train=80, folds=5) == pytest.approx(10.0)
