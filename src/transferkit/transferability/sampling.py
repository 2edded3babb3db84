"""Seeded samples of a dataset's examples that keep its class proportions (numpy only)."""

from __future__ import annotations

import numpy as np

from transferkit.errors import UserError


def stratified_subsample(
    labels: np.ndarray, pool: np.ndarray, n: int, seed: int, min_per_class: int = 2
) -> np.ndarray:
    """``n`` indices of ``pool``, class proportions kept (at least ``min_per_class`` of each
    class), the first of one seeded permutation per class so that larger samples contain
    smaller ones (and reuse their cached features). Sorted."""
    y = labels[pool]
    classes, counts = np.unique(y, return_counts=True)
    if n >= len(pool):
        return np.sort(pool)
    lo = np.minimum(counts, min_per_class)
    if n < lo.sum():
        raise UserError(
            f"max_examples={n} is too few for {len(classes)} classes: this needs "
            f"at least {min_per_class} examples of each, so at least {lo.sum()}."
        )
    quota = counts * n / counts.sum()
    alloc = np.clip(np.floor(quota).astype(np.int64), lo, counts)
    while alloc.sum() < n:
        alloc[np.argmax(np.where(alloc < counts, quota - alloc, -np.inf))] += 1
    while alloc.sum() > n:
        alloc[np.argmax(np.where(alloc > lo, alloc - quota, -np.inf))] -= 1
    rng = np.random.default_rng([int(seed) % 2**63, 17])
    picked = [rng.permutation(pool[y == c])[:a] for c, a in zip(classes, alloc)]
    return np.sort(np.concatenate(picked))


def sample_indices(labels: np.ndarray | None, total: int, n: int | None, seed: int) -> np.ndarray:
    """Up to ``n`` of ``range(total)``: stratified when there are labels, else uniform. Sorted."""
    pool = np.arange(total)
    if n is None or n >= total:
        return pool
    if labels is None or len(np.unique(labels)) < 2:
        rng = np.random.default_rng([int(seed) % 2**63, 17])
        return np.sort(rng.choice(total, n, replace=False))
    return stratified_subsample(np.asarray(labels), pool, n, seed, min_per_class=0)
