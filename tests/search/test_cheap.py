"""The cheap stage's pure rules: the 95% interval every leaderboard row carries, and when the
validation split is too small to choose by (then the linear probe is cross-validated too)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.data.splits import Splits
from transferkit.search.cheap import TINY_VAL, tiny_validation, val_interval


def test_the_interval_is_wilsons_score_interval():
    # 50 of 100 right: the textbook Wilson interval is 0.4038 .. 0.5962
    low, high = val_interval(0.5, 100)
    assert low == pytest.approx(0.40383, abs=1e-4) and high == pytest.approx(0.59617, abs=1e-4)
    # 20 of 20 right: the interval stays below 1 on the low side (unlike the normal one)
    low, high = val_interval(1.0, 20)
    assert high == 1.0 and low == pytest.approx(0.8389, abs=1e-3)


def test_no_validation_examples_give_the_whole_range():
    assert val_interval(0.7, 0) == (0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 1000))
def test_the_interval_holds_the_score_inside_0_and_1_and_narrows_with_more_examples(k, n):
    score = min(k, n) / n
    low, high = val_interval(score, n)
    assert 0.0 <= low <= score + 1e-12 and score - 1e-12 <= high <= 1.0
    low4, high4 = val_interval(score, 4 * n)
    assert high4 - low4 < high - low


@pytest.mark.parametrize(
    "n_val, classes, tiny", [(0, 2, True), (19, 2, True), (20, 2, False), (99, 10, True)]
)
def test_a_validation_split_is_tiny_below_ten_examples_per_class(n_val, classes, tiny):
    assert TINY_VAL == 10
    splits = Splits(np.arange(50), np.arange(50, 50 + n_val), np.empty(0, np.int64))
    assert tiny_validation(splits, classes) is tiny
