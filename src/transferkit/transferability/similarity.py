"""Distances between two samples of features: how far a source domain is from a target domain.

Plain numpy (scikit-learn for the domain classifier), reusable by domain adaptation:

* :func:`mmd2_unbiased` / :func:`mmd_test`: squared maximum mean discrepancy with a Gaussian
  (RBF) kernel, its unbiased estimate and a permutation p-value (Gretton, Borgwardt, Rasch,
  Schoelkopf, Smola, "A Kernel Two-Sample Test", JMLR 2012), the bandwidth set by the median
  heuristic;
* :func:`proxy_a_distance`: 2 (1 - 2 err) of a domain classifier (Ben-David, Blitzer, Crammer,
  Pereira, "Analysis of Representations for Domain Adaptation", NeurIPS 2006);
* :func:`class_conditional_mmd`: the same MMD per class shared by both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.errors import UserError
from transferkit.threads import native_threads


def _check(x: np.ndarray, what: str, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise UserError(f"{what} must be a 2-D array of features, got shape {x.shape}.")
    if len(x) < min_rows:
        raise UserError(f"{what} has {len(x)} examples; at least {min_rows} are needed.")
    if not np.isfinite(x).all():
        raise UserError(f"{what} contains NaN or infinite feature values.")
    return x


def sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances (len(a), len(b)), clipped at 0."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def median_bandwidth(
    x: np.ndarray, y: np.ndarray | None = None, max_points: int = 2000, seed: int = 0
) -> float:
    """The median heuristic: the median pairwise Euclidean distance between distinct points of
    the pooled sample (a seeded subsample of ``max_points`` when larger). 1.0 if all coincide."""
    z = x if y is None else np.concatenate([x, y])
    if len(z) > max_points:
        z = z[np.random.default_rng(seed).choice(len(z), max_points, replace=False)]
    d = sq_distances(z, z)[np.triu_indices(len(z), k=1)]
    med = float(np.median(np.sqrt(d))) if len(d) else 0.0
    return med if med > 0 else 1.0


def rbf_kernel(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    """k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2))."""
    return np.exp(-sq_distances(a, b) / (2.0 * bandwidth * bandwidth))


def _mmd2_from_kernel(k: np.ndarray, m: int) -> float:
    """Unbiased MMD^2 from the pooled kernel matrix, the first ``m`` rows being X."""
    n = len(k) - m
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> float:
    r"""Unbiased MMD^2 (Gretton et al. 2012, Lemma 6) with an RBF kernel:

        MMD_u^2 = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
                  - 2/(mn) sum_{i, j} k(x_i, y_j)

    It can be slightly negative when the two distributions are equal. ``bandwidth`` defaults
    to the median heuristic on the pooled sample.
    """
    x, y = _check(x, "the first sample"), _check(y, "the second sample")
    bw = bandwidth or median_bandwidth(x, y)
    return _mmd2_from_kernel(rbf_kernel(np.concatenate([x, y]), np.concatenate([x, y]), bw), len(x))


@dataclass
class MMDTest:
    """Result of :func:`mmd_test`: statistic, permutation p-value, bandwidth, sample sizes."""

    mmd2: float
    p_value: float
    bandwidth: float
    permutations: int
    n_x: int
    n_y: int


def mmd_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    permutations: int = 200,
    seed: int = 0,
    bandwidth: float | None = None,
) -> MMDTest:
    """MMD^2 and its permutation p-value (Gretton et al. 2012, Section 5): the pooled sample's
    labels are shuffled ``permutations`` times and p = (1 + #{MMD^2_perm >= MMD^2}) /
    (1 + permutations). The kernel matrix is computed once and every permutation is scored
    from it with one matrix product."""
    x, y = _check(x, "the source sample"), _check(y, "the target sample")
    bw = bandwidth or median_bandwidth(x, y, seed=seed)
    z = np.concatenate([x, y])
    k = rbf_kernel(z, z, bw)
    m, n = len(x), len(y)
    stat = _mmd2_from_kernel(k, m)
    if permutations < 1:
        return MMDTest(stat, float("nan"), bw, 0, m, n)
    rng = np.random.default_rng(seed)
    a = np.zeros((m + n, permutations))
    for j in range(permutations):
        a[rng.permutation(m + n)[:m], j] = 1.0  # 1: in the "X" group
    b = 1.0 - a
    ka = k @ a
    total = k.sum()
    diag = np.diag(k)
    sxx = (np.einsum("ij,ij->j", a, ka) - diag @ a) / (m * (m - 1))
    kb_b = total - 2.0 * ka.sum(axis=0) + np.einsum("ij,ij->j", a, ka)  # b^T K b
    syy = (kb_b - diag @ b) / (n * (n - 1))
    sxy = (ka.sum(axis=0) - np.einsum("ij,ij->j", a, ka)) / (m * n)  # a^T K b
    perm = sxx + syy - 2.0 * sxy
    p = (1.0 + np.sum(perm >= stat - 1e-12)) / (1.0 + permutations)
    return MMDTest(stat, float(p), bw, permutations, m, n)


def domain_classifier_error(
    x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0, c: float = 1.0
) -> float:
    """Cross-validated error of a logistic regression telling X (0) from Y (1) on
    standardised features; every example is predicted once by a model not trained on it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _check(x, "the source sample"), _check(y, "the target sample")
    z = np.concatenate([x, y])
    d = np.r_[np.zeros(len(x), np.int64), np.ones(len(y), np.int64)]
    k = min(folds, len(x), len(y))
    if k < 2:
        raise UserError("A domain classifier needs at least 2 examples of each domain.")
    pred = np.empty_like(d)
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(z, d):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
        with native_threads(z[tr].size):
            pred[te] = model.fit(z[tr], d[tr]).predict(z[te])
    return float(np.mean(pred != d))


def proxy_a_distance(
    x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0
) -> tuple[float, float]:
    """Proxy A-distance 2 (1 - 2 err) (Ben-David et al. 2006) and the domain classifier's
    cross-validated error ``err``. 0: indistinguishable domains (err = 0.5); 2: perfectly
    separable. Balanced samples make err = 0.5 the chance level; pass equal sizes."""
    err = domain_classifier_error(x, y, folds=folds, seed=seed)
    return 2.0 * (1.0 - 2.0 * err), err


def class_conditional_mmd(
    xs: np.ndarray,
    ys: np.ndarray,
    xt: np.ndarray,
    yt: np.ndarray,
    *,
    bandwidth: float | None = None,
    classes: list[str] | None = None,
) -> dict[str, float | None]:
    """Unbiased MMD^2 between source and target examples of each class present on both sides
    (labels already in one shared label space); ``None`` for a class with fewer than two
    examples on a side. One bandwidth for all classes (default: median heuristic on all the
    data), so the per-class values are comparable."""
    xs, xt = _check(xs, "the source sample"), _check(xt, "the target sample")
    ys, yt = np.asarray(ys), np.asarray(yt)
    bw = bandwidth or median_bandwidth(xs, xt)
    out: dict[str, float | None] = {}
    for c in np.intersect1d(ys, yt):
        a, b = xs[ys == c], xt[yt == c]
        name = classes[int(c)] if classes is not None else str(c)
        out[name] = mmd2_unbiased(a, b, bw) if len(a) >= 2 and len(b) >= 2 else None
    return out


@dataclass
class DomainDistances:
    """All distances between two feature samples, as :func:`domain_distances` computes them."""

    mmd2: float
    p_value: float
    bandwidth: float
    proxy_a_distance: float
    domain_error: float
    class_mmd: dict[str, float | None]


def domain_distances(
    xs: np.ndarray,
    xt: np.ndarray,
    ys: np.ndarray | None = None,
    yt: np.ndarray | None = None,
    *,
    classes: list[str] | None = None,
    permutations: int = 200,
    seed: int = 0,
) -> DomainDistances:
    """MMD^2 with its permutation p-value, proxy A-distance, and (when ``ys`` and ``yt`` are
    given, in one shared label space; negative labels are ignored) MMD^2 per shared class, all
    with one median-heuristic bandwidth."""
    xs, xt = _check(xs, "the source sample"), _check(xt, "the target sample")
    bw = median_bandwidth(xs, xt, seed=seed)
    test = mmd_test(xs, xt, permutations=permutations, seed=seed, bandwidth=bw)
    pad, err = proxy_a_distance(xs, xt, seed=seed)
    per_class: dict[str, float | None] = {}
    if ys is not None and yt is not None:
        ys, yt = np.asarray(ys), np.asarray(yt)
        keep_s, keep_t = ys >= 0, yt >= 0
        per_class = class_conditional_mmd(
            xs[keep_s], ys[keep_s], xt[keep_t], yt[keep_t], bandwidth=bw, classes=classes
        )
    return DomainDistances(test.mmd2, test.p_value, bw, pad, err, per_class)
