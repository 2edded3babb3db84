"""The parity check's numbers and its verdicts, on hand-made probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.errors import UserError
from transferkit.shipping import parity


def _probs(n=300, k=4, seed=0):
    rng = np.random.default_rng(seed)
    x = np.exp(rng.normal(size=(n, k)) * 3)
    return x / x.sum(1, keepdims=True)


def test_identical_probabilities_pass_and_report_zero():
    p = _probs()
    y = p.argmax(1)
    r = parity.compare(p, p.copy(), y)
    assert r["passed"] and r["max_abs_diff"] == 0 and r["argmax_agreement"] == 1.0
    assert r["accuracy_torch"] == r["accuracy_export"] == 1.0 and r["n"] == 300


def test_a_difference_above_the_tolerance_fails_and_names_the_numbers():
    p = _probs()
    q = p.copy()
    q[5] = q[5][::-1]  # one example's probabilities reversed: a large difference
    r = parity.compare(p, q, None)
    assert not r["passed"] and r["max_abs_diff"] == pytest.approx(np.abs(p[5] - q[5]).max())
    with pytest.raises(UserError, match=r"run r1 on 300 test inputs: max .*tolerance 0.001"):
        parity.check(r, "r1")
    small = p + 1e-5 * np.random.default_rng(1).normal(size=p.shape)
    assert parity.compare(p, small, None)["passed"]
    with pytest.raises(UserError, match="shape"):
        parity.compare(p, p[:, :3], None)


def test_agreement_below_the_threshold_fails_fp32_only():
    p = np.tile([[0.5 + 1e-4, 0.5 - 1e-4]], (1000, 1))
    q = p.copy()
    q[0] = q[0][::-1]  # one flip in 1000 inside the tolerance: agreement 99.9% still passes
    assert parity.compare(p, q, None)["passed"]
    q[1] = q[1][::-1]  # two flips: 99.8%
    r = parity.compare(p, q, None)
    assert r["max_abs_diff"] < r["tolerance"] and not r["passed"]
    with pytest.raises(UserError, match=r"agreement 99.80% \(needs 99.9%\)"):
        parity.check(r, "r1")
    # int8 reports agreement but is judged on its own (looser) probability tolerance
    assert parity.compare(p, q, None, precision="int8")["passed"]


def test_int8_accuracy_change_is_in_points():
    p = _probs()
    y = p.argmax(1)
    worse = p.copy()
    worse[:3] = worse[:3, ::-1]
    fp32 = parity.compare(p, p, y)
    int8 = parity.compare(p, worse, y, precision="int8", tolerance=1.0)
    change = parity.accuracy_change(fp32, int8)
    assert change["accuracy_fp32"] == 1.0
    assert change["accuracy_change_points"] == pytest.approx(-100 * 3 / 300)
    assert parity.accuracy_change(parity.compare(p, p, None), int8) == {}


def test_the_sample_is_seeded_sorted_and_all_when_small():
    a = parity.sample(1000, 50)
    assert len(set(a)) == 50 and list(a) == sorted(a)
    assert np.array_equal(a, parity.sample(1000, 50)) and not np.array_equal(
        a, parity.sample(1000, 50, 1)
    )
    assert np.array_equal(parity.sample(30, 256), np.arange(30))
