"""Small statistics for comparisons: t confidence intervals, paired differences, McNemar.

Comparisons in transferkit are paired: every strategy sees the same splits and subsamples for
a given seed, so differences are taken per seed and their interval is a paired t interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Interval:
    n: int
    mean: float
    std: float
    low: float | None
    high: float | None

    def as_dict(self, prefix: str = "") -> dict:
        return {
            "n": self.n,
            f"{prefix}mean": self.mean,
            "std": self.std,
            "ci_low": self.low,
            "ci_high": self.high,
        }


def t_interval(values, level: float = 0.95, bounds: tuple[float, float] | None = None) -> Interval:
    """Mean, sample std and the Student-t interval of the mean (None with one value).

    ``bounds``: the range the quantity cannot leave (accuracy: (0, 1); a difference of two
    accuracies: (-1, 1)); the interval is clipped to it, as a t interval on few seeds with a
    large spread can otherwise claim an accuracy above 100%."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        return Interval(0, float("nan"), float("nan"), None, None)
    mean = float(v.mean())
    if n == 1:
        return Interval(1, mean, 0.0, None, None)
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * std / np.sqrt(n))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(n, mean, std, low, high)


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float]:
    """Exact McNemar test on paired per-example correctness (two-sided binomial on the
    discordant pairs): is one classifier right where the other is wrong more often than chance?"""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    p = float(stats.binomtest(only_a, n, 0.5).pvalue) if n else 1.0
    return {"only_a_correct": only_a, "only_b_correct": only_b, "p_value": p}


def bootstrap_diff(correct_a, correct_b, seed: int = 0, rounds: int = 2000, level=0.95):
    """Percentile bootstrap interval of accuracy(a) - accuracy(b) over the shared examples."""
    a = np.asarray(correct_a, float)
    b = np.asarray(correct_b, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(rounds, len(a)))
    diffs = a[idx].mean(1) - b[idx].mean(1)
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def verdict(name: str, baseline: str, diff: Interval, where: str, unit: float = 100.0) -> str:
    """A plain-language sentence for a paired difference (in points when ``unit`` is 100)."""
    d = diff.mean * unit
    if diff.low is None:
        return (
            f"{name} vs {baseline} {where}: {d:+.1f} points from a single seed "
            "(no interval; use more seeds)."
        )
    lo, hi = diff.low * unit, diff.high * unit
    ci = f"(95% CI {lo:.1f} to {hi:.1f})"
    if lo > 0:
        return f"{name} beats {baseline} by {d:.1f} points {ci} {where}."
    if hi < 0:
        return f"{name} trails {baseline} by {-d:.1f} points {ci} {where}."
    return f"{name} and {baseline} are not distinguishable {where}: {d:+.1f} points {ci}."
