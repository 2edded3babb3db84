"""Ensemble selection: which of the search's models to average, and with what weights.

Every cheap run and trial of the search leaves class probabilities for the labelled examples
(out-of-fold where the pool was cross-validated, else on the validation split). Keeping only
the best one throws away what the runners-up know; averaging all of them lets weak models
drag the average down. Ensemble selection (Caruana et al., 2004, "Ensemble selection from
libraries of models") builds the average greedily: start from nothing, and at each step add
the candidate whose addition makes the average best, *with replacement*, so a candidate
picked k times gets weight k / steps. Caruana et al. (2006, "Getting the most out of ensemble
selection") add the refinements used here, which keep the greedy path from overfitting a
small selection set:

- sorted initialisation: the path starts from the ``init_top`` best candidates, each once;
- bagging: the greedy run is repeated on ``bags`` random subsets of the library and the
  weights averaged, so no single lucky candidate owns the ensemble;
- the path is kept only up to its best point (later steps may make it worse).

Then the ensemble is made cheap to use: at most ``max_members`` distinct members (each costs
a forward pass at prediction time), and a member whose removal does not make the ensemble
worse is removed, so a member that does not help has weight exactly 0 (an exact copy of an
earlier candidate is never picked). If all this is not strictly better than the best single
candidate, that candidate alone is returned: a tie is not worth the extra forward passes.

"Better" is lexicographic: higher accuracy (the metric the search maximises and reports),
then lower mean negative log-likelihood. On the small pools this is used for (100 labelled
examples is common) accuracy moves in steps of 1 %, so many additions tie on it and the
greedy path would be decided by the order of the list; the log-likelihood, a proper scoring
rule, separates them by how much probability the ensemble puts on the right class. It comes
second, not first, because optimising it alone favours hedged ensembles that can be less
accurate. Pure numpy: with a running sum of the picked probabilities, a greedy step is one
vectorised pass over the candidates, and only over the examples an addition could change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: Probabilities are clipped here before the log, so a confident mistake costs ~27.6, not inf.
EPS = 1e-12
#: Log-likelihoods closer than this are a tie (float noise of different summation orders).
NLL_TOL = 1e-9
#: A row whose running sum leads by more than one probability cannot change its argmax.
_SETTLED = 1.0 + 1e-9


@dataclass
class Ensemble:
    """The selected weighted average, how good it is on the given examples, and its path."""

    weights: dict[str, float]
    score: float
    nll: float
    best_single: str
    best_single_score: float
    steps: list[dict] = field(default_factory=list)

    @property
    def members(self) -> list[str]:
        """Keys with a weight above 0, heaviest first (ties in the candidates' order)."""
        keys = list(self.weights)
        return sorted(
            (k for k in keys if self.weights[k] > 0),
            key=lambda k: (-self.weights[k], keys.index(k)),
        )


def objective(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy, mean negative log-likelihood) of class probabilities ``proba`` for labels
    ``y``; better is higher accuracy, then lower log-likelihood."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    if proba.ndim != 2 or y.shape != (proba.shape[0],):
        raise ValueError(f"probabilities of shape {proba.shape} do not match labels {y.shape}")
    right, nll = _rate(proba, y)
    return right / len(y), nll


def blend(probas: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted average of the candidates' probabilities (weights are normalised to sum
    to 1; keys of weight 0 are not read)."""
    used = [(k, float(w)) for k, w in weights.items() if w > 0]
    if not used:
        raise ValueError("blend needs at least one weight above 0")
    arrays = [np.asarray(probas[k], dtype=np.float64) for k, _ in used]
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"weighted candidates differ in shape: {[a.shape for a in arrays]}")
    return _average(arrays, [w for _, w in used])


def _average(arrays: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """The one weighted average (selection scores exactly what :func:`blend` returns)."""
    total = sum(weights)
    out = np.zeros(arrays[0].shape)
    for a, w in zip(arrays, weights):
        out += (w / total) * a
    return out


def _rate(proba: np.ndarray, y: np.ndarray) -> tuple[int, float]:
    """(number right by argmax, mean NLL) of ``proba`` for labels ``y``."""
    right = int(np.count_nonzero(proba.argmax(axis=1) == y))
    picked = np.clip(proba[np.arange(len(y)), y], EPS, None)
    return right, float(-np.mean(np.log(picked)))


class _Library:
    """The candidates stacked into one array, with each one's true-class column and score."""

    def __init__(self, probas: Mapping[str, np.ndarray], y: np.ndarray) -> None:
        self.keys = list(probas)
        if not self.keys:
            raise ValueError("ensemble selection needs at least one candidate")
        self.y = np.asarray(y)
        arrays = [np.asarray(probas[k], dtype=np.float64) for k in self.keys]
        shape = arrays[0].shape
        if len(shape) != 2 or any(a.shape != shape for a in arrays):
            shapes = {k: a.shape for k, a in zip(self.keys, arrays)}
            raise ValueError(f"candidates' probabilities differ in shape or are not 2-D: {shapes}")
        if self.y.shape != (shape[0],) or not np.issubdtype(self.y.dtype, np.integer):
            raise ValueError(f"labels of shape {self.y.shape} ({self.y.dtype}) for {shape}")
        if shape[0] == 0 or self.y.min() < 0 or self.y.max() >= shape[1]:
            raise ValueError(f"labels must be in 0..{shape[1] - 1} and not empty")
        self.P = np.stack(arrays)
        if not np.allclose(self.P.sum(axis=2), 1.0, atol=1e-4):
            raise ValueError("every row of probabilities must sum to 1 (were logits passed?)")
        self.n, self.k = shape
        self.Py = self.P[:, np.arange(self.n), self.y]
        wrong = self.P.transpose(0, 2, 1).copy()  # a copy even where the view is contiguous
        wrong[:, self.y, np.arange(self.n)] = -np.inf
        self.wrong = wrong  # (candidate, class, example); the true class at -inf
        self.single = [_rate(p, self.y) for p in self.P]

    def score(self, w: np.ndarray) -> tuple[int, float]:
        """(number right, mean NLL) of the ensemble with (unnormalised) weights ``w``."""
        idx = np.flatnonzero(w)
        return _rate(_average([self.P[j] for j in idx], [float(w[j]) for j in idx]), self.y)

    def distinct(self) -> np.ndarray:
        """The candidates that are not an exact copy of an earlier one (a copy adds nothing:
        the same run listed twice, or a deterministic rerun)."""
        kept: list[int] = []
        for j in range(len(self.keys)):
            same = (k for k in kept if self.single[k] == self.single[j])
            if not any(np.array_equal(self.P[k], self.P[j]) for k in same):
                kept.append(j)
        return np.array(kept)

    def ranked(self, subset: np.ndarray) -> list[int]:
        """``subset`` best single candidate first; ties in the candidates' order."""
        return sorted(subset.tolist(), key=lambda j: (-self.single[j][0], self.single[j][1], j))


def _better(a: tuple[int, float], b: tuple[int, float]) -> bool:
    """Is score ``a`` strictly better than ``b``: more right, or as many and a lower NLL."""
    return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1] - NLL_TOL)


def _right_counts(
    lib: _Library, subset: np.ndarray, others: np.ndarray, s: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """How many of ``rows`` each candidate of ``subset`` gets right once added to the running
    sum ``s``, as numpy's argmax decides (the first of tied classes wins). ``others`` is
    ``lib.wrong[subset]``: with the true class at -inf and classes on the middle axis, the
    largest wrong class is a running elementwise maximum over contiguous rows."""
    st = np.ascontiguousarray(s[rows].T)
    other = np.full((len(subset), len(rows)), -np.inf)
    added = np.empty_like(other)
    for k in range(lib.k):  # one class at a time: two passes over (candidates, rows), in cache
        np.add(others[:, k] if len(rows) == lib.n else others[:, k, rows], st[k], out=added)
        np.maximum(other, added, out=other)
    true = s[rows, lib.y[rows]] + lib.Py[np.ix_(subset, rows)]
    right = true > other
    tied, i = np.nonzero(true == other)
    if len(tied):  # rare with real probabilities; every row of a uniform candidate
        full = lib.P[subset[tied], rows[i]] + s[rows[i]]
        right[tied, i] = full.argmax(axis=1) == lib.y[rows[i]]
    return np.count_nonzero(right, axis=1)


def _best_addition(
    lib: _Library, subset: np.ndarray, others: np.ndarray, s: np.ndarray, c: int
) -> tuple[int, tuple[int, float]]:
    """The candidate of ``subset`` whose addition to the running sum ``s`` (of ``c`` picks)
    scores best, and that score."""
    # A row whose leader is ahead by more than 1 keeps its argmax whatever is added (each
    # probability adds at most 1), so only the contested rows need the full comparison.
    if lib.k > 1:
        top = np.partition(s, lib.k - 2, axis=1)[:, -2:]
        settled = top[:, 1] - top[:, 0] > _SETTLED
    else:
        settled = np.ones(lib.n, dtype=bool)
    base = int(np.count_nonzero(settled & (s.argmax(axis=1) == lib.y)))
    right = base + _right_counts(lib, subset, others, s, np.flatnonzero(~settled))
    # the log-likelihood only decides among those that are right most often
    tied = np.flatnonzero(right == right.max())
    py = s[np.arange(lib.n), lib.y] + lib.Py[subset[tied]]
    nll = -np.log(np.clip(py / (c + 1), EPS, None)).mean(axis=1)
    best = int(tied[np.argmin(nll)])
    return int(subset[best]), (int(right[best]), float(nll.min()))


def _greedy(
    lib: _Library, subset: np.ndarray, init_top: int, rounds: int
) -> tuple[np.ndarray, list[tuple[int, tuple[int, float]]]]:
    """One greedy run on ``subset``: the pick counts at the best point of the path (which
    starts from the best single candidate, so it is never worse), and the path itself."""
    order = lib.ranked(subset)
    counts = np.zeros(len(lib.keys), dtype=np.int64)
    best_counts = counts.copy()
    best_counts[order[0]] = 1
    best = lib.single[order[0]]
    s = np.zeros((lib.n, lib.k))
    others = lib.wrong[subset] if rounds else None
    path = []
    for pick in order[:init_top] + [None] * rounds:
        c = int(counts.sum())
        j, score = (pick, None) if pick is not None else _best_addition(lib, subset, others, s, c)
        counts[j] += 1
        s += lib.P[j]
        score = score if score is not None else lib.score(counts.astype(float))
        path.append((j, score))
        if _better(score, best):
            best, best_counts = score, counts.copy()
    return best_counts, path


def _bags(pool: np.ndarray, init_top: int, bags: int, fraction: float, seed: int):
    """``bags`` random subsets of ``fraction`` of the candidates ``pool`` (at least one
    candidate, and at least ``init_top`` where the pool has that many)."""
    rng = np.random.default_rng(seed)
    size = min(len(pool), max(1, init_top, int(round(fraction * len(pool)))))
    return [np.sort(rng.choice(pool, size, replace=False)) for _ in range(bags)]


def _prune(lib: _Library, w: np.ndarray) -> np.ndarray:
    """Remove members, lightest first, while the ensemble without one is not worse."""
    while np.count_nonzero(w) > 1:
        current = lib.score(w)
        members = sorted(np.flatnonzero(w).tolist(), key=lambda j: (w[j], -j))
        for j in members:
            trial = w.copy()
            trial[j] = 0.0
            if not _better(current, lib.score(trial)):
                w = trial / trial.sum()
                break
        else:
            break
    return w


def _cap(w: np.ndarray, max_members: int) -> np.ndarray:
    """Keep the ``max_members`` heaviest members (ties: the earlier candidate), renormalised."""
    keep = sorted(np.flatnonzero(w).tolist(), key=lambda j: (-w[j], j))[:max_members]
    out = np.zeros_like(w)
    out[keep] = w[keep]
    return out / out.sum()


def select_ensemble(
    probas: Mapping[str, np.ndarray],
    y: np.ndarray,
    *,
    max_members: int = 5,
    init_top: int = 2,
    rounds: int = 25,
    bags: int = 20,
    bag_fraction: float = 0.5,
    seed: int = 0,
) -> Ensemble:
    """Select a weighted ensemble of the candidates ``probas`` (key -> (n, K) class
    probabilities of the same n examples) for labels ``y`` by bagged greedy forward selection
    with replacement from a sorted initialisation; see the module's docstring."""
    if max_members < 1 or init_top < 0 or rounds < 0 or bags < 0 or not 0 < bag_fraction <= 1:
        raise ValueError(
            "need max_members >= 1, init_top >= 0, rounds >= 0, bags >= 0, 0 < bag_fraction <= 1"
        )
    lib = _Library(probas, y)
    pool = lib.distinct()
    top = lib.ranked(pool)[0]
    counts, steps = _greedy(lib, pool, init_top, rounds)
    w = counts / counts.sum()
    for subset in _bags(pool, init_top, bags, bag_fraction, seed):
        counts, _ = _greedy(lib, subset, init_top, rounds)
        w += counts / counts.sum()
    w = _prune(lib, _cap(w, max_members))
    if not _better(lib.score(w), lib.single[top]):
        w = np.eye(len(lib.keys))[top]
    weights = {k: float(w[j]) for j, k in enumerate(lib.keys)}
    right, nll = lib.score(w)  # bit for bit what objective(blend(probas, weights), y) gives
    return Ensemble(
        weights=weights,
        score=right / lib.n,
        nll=nll,
        best_single=lib.keys[top],
        best_single_score=lib.single[top][0] / lib.n,
        steps=[{"added": lib.keys[j], "score": r / lib.n, "nll": nll_} for j, (r, nll_) in steps],
    )
