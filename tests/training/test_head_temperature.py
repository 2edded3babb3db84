"""The LP-FT head start: a confident probe is scaled down to the label-smoothed loss's margin."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.strategies.linear import head_temperature


def _smoothed_ce(z, y, eps):
    k = z.shape[1]
    q = np.full(z.shape, eps / k)
    q[np.arange(len(y)), y] += 1 - eps
    z = z - z.max(1, keepdims=True)
    return -np.mean(np.sum(q * (z - np.log(np.exp(z).sum(1, keepdims=True))), 1))


def test_a_very_confident_head_is_scaled_to_the_smoothed_optimum():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 6)
    logits = rng.normal(size=(24, 4))
    logits[np.arange(24), y] += 300.0  # separable, margins in the hundreds
    t = head_temperature(logits, y, smoothing=0.1)
    assert 0 < t < 0.05
    # the optimum of the loss over t: no grid point does better
    grid = np.exp(np.linspace(np.log(1e-4), 0, 400))
    best = min(grid, key=lambda s: _smoothed_ce(s * logits, y, 0.1))
    assert _smoothed_ce(t * logits, y, 0.1) <= _smoothed_ce(best * logits, y, 0.1) + 1e-6
    # predictions are unchanged, and the optimal margin is near log((1-eps+eps/k)/(eps/k))
    assert np.array_equal((t * logits).argmax(1), logits.argmax(1))
    margin = np.median((t * logits)[np.arange(24), y] - np.sort(t * logits, 1)[:, -2])
    assert margin == pytest.approx(np.log(0.925 / 0.025), rel=0.2)


def test_a_modest_head_and_no_smoothing_are_left_alone():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 30)
    logits = rng.normal(scale=0.1, size=(30, 3))
    logits[np.arange(30), y] += 0.5  # right but under-confident: the loss wants t > 1
    assert head_temperature(logits, y, smoothing=0.1) == 1.0
    assert head_temperature(logits * 100, y, smoothing=0.0) == 1.0
