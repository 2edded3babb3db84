"""MMD (golden values and permutation p-value against direct loops), proxy A-distance,
class-conditional MMD, and the stratified samples rank and similarity draw."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transferkit.errors import UserError
from transferkit.transferability.sampling import sample_indices, stratified_subsample
from transferkit.transferability.similarity import (
    class_conditional_mmd,
    domain_distances,
    median_bandwidth,
    mmd2_unbiased,
    mmd_test,
    proxy_a_distance,
)


def _k(a, b, bw):
    return math.exp(-np.sum((a - b) ** 2) / (2 * bw * bw))


def mmd2_direct(x, y, bw):
    """Gretton et al. 2012, Lemma 6, with explicit double sums."""
    m, n = len(x), len(y)
    sxx = sum(_k(x[i], x[j], bw) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(_k(y[i], y[j], bw) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(_k(x[i], y[j], bw) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


def samples(shift=0.0, m=20, n=25, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, d)), rng.normal(size=(n, d)) + shift


def test_median_bandwidth_and_unbiased_mmd_match_direct_formulas():
    x, y = samples(shift=0.7)
    z = np.concatenate([x, y])
    dists = [np.linalg.norm(z[i] - z[j]) for i in range(len(z)) for j in range(i + 1, len(z))]
    bw = median_bandwidth(x, y)
    assert abs(bw - np.median(dists)) < 1e-9
    assert abs(mmd2_unbiased(x, y) - mmd2_direct(x, y, bw)) < 1e-9
    assert abs(mmd2_unbiased(x, y, 0.5) - mmd2_direct(x, y, 0.5)) < 1e-9


def test_permutation_p_value_matches_a_direct_loop():
    x, y = samples(shift=0.3)
    res = mmd_test(x, y, permutations=30, seed=4)
    z = np.concatenate([x, y])
    rng = np.random.default_rng(4)
    stat = mmd2_direct(x, y, res.bandwidth)
    hits = 0
    for _ in range(30):
        mask = np.zeros(len(z), bool)
        mask[rng.permutation(len(z))[: len(x)]] = True
        hits += mmd2_direct(z[mask], z[~mask], res.bandwidth) >= stat - 1e-12
    assert abs(res.mmd2 - stat) < 1e-9
    assert res.p_value == pytest.approx((1 + hits) / 31)


def test_mmd_test_tells_shifted_from_same_distribution():
    same = mmd_test(*samples(m=60, n=60, seed=1), permutations=100)
    shifted = mmd_test(*samples(shift=1.0, m=60, n=60, seed=1), permutations=100)
    assert same.p_value > 0.05 and abs(same.mmd2) < 0.05
    assert shifted.p_value == pytest.approx(1 / 101) and shifted.mmd2 > 0.1


def test_proxy_a_distance_is_near_two_for_separable_and_near_zero_for_same_domains():
    far, err = proxy_a_distance(*samples(shift=6.0, m=80, n=80))
    assert far == pytest.approx(2.0) and err == 0.0
    near, err = proxy_a_distance(*samples(shift=0.0, m=80, n=80, seed=2))
    assert abs(near) < 0.5 and near == pytest.approx(2 * (1 - 2 * err))


def test_class_conditional_mmd_finds_the_shifted_class():
    rng = np.random.default_rng(0)
    ys, yt = np.repeat([0, 1, 2], 30), np.r_[np.repeat([0, 1], 30), [2]]
    xs = rng.normal(size=(90, 2))
    xt = rng.normal(size=(61, 2))
    xt[yt == 1] += 3.0
    out = class_conditional_mmd(xs, ys, xt, yt, classes=["a", "b", "c"])
    assert set(out) == {"a", "b", "c"}
    assert out["b"] > 10 * abs(out["a"]) and out["c"] is None  # one target example of "c"


def test_domain_distances_ignores_unshared_labels():
    x, y = samples(m=30, n=30)
    ys, yt = np.r_[np.zeros(15, int), -np.ones(15, int)], np.zeros(30, int)
    d = domain_distances(x, y, ys, yt, classes=["0"], permutations=20)
    assert list(d.class_mmd) == ["0"] and 0 < d.p_value <= 1
    assert domain_distances(x, y, permutations=0).class_mmd == {}


def test_bad_samples_give_user_errors():
    x, y = samples()
    with pytest.raises(UserError, match="NaN"):
        mmd_test(np.where(x > 1, np.nan, x), y)
    with pytest.raises(UserError, match="at least 2"):
        mmd_test(x[:1], y)
    with pytest.raises(UserError, match="2-D"):
        proxy_a_distance(x[:, 0], y)


def test_stratified_subsample_keeps_proportions_is_nested_and_refuses_too_few():
    labels = np.r_[np.zeros(100, int), np.ones(50, int), np.full(4, 2)]
    pool = np.arange(len(labels))
    small = stratified_subsample(labels, pool, 30, seed=0)
    big = stratified_subsample(labels, pool, 60, seed=0)
    assert len(small) == 30 and len(big) == 60 and set(small) <= set(big)
    counts = np.bincount(labels[small])
    assert counts[2] >= 2 and abs(counts[0] - 2 * counts[1]) <= 2
    with pytest.raises(UserError, match="too few for 3 classes"):
        stratified_subsample(labels, pool, 5, seed=0)
    assert len(sample_indices(None, 50, 10, seed=0)) == 10
    assert len(sample_indices(labels, len(labels), 2, seed=0)) == 2
