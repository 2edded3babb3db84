"""Golden values of every score against a direct, slow implementation of its paper's formula,
the invariances the scores must keep, and bad input."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from transferkit.errors import UserError
from transferkit.transferability import SCORES, compute_score
from transferkit.transferability.hscore import ledoit_wolf
from transferkit.transferability.knn import knn_loo_predictions

TOL = 1e-6


def synthetic(n=240, d=12, k=4, z=7, seed=0, signal=1.5):
    """Fixed features with some class signal, labels, and source-head probabilities."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    rng.shuffle(y)
    means = rng.normal(size=(k, d)) * signal
    x = rng.normal(size=(n, d)) + means[y] + 0.5
    logits = rng.normal(size=(n, z)) + 2.0 * np.eye(z)[(y * 2) % z]
    p = np.exp(logits - logits.max(1, keepdims=True))
    return x, y, p / p.sum(1, keepdims=True)


# ------------------------------------------------------------------ direct implementations
def logme_direct(f, y_labels, tol=1e-6, max_iter=100):
    """You et al. 2021, one class at a time with explicit matrices (A, A^-1, |A|)."""
    n, d = f.shape
    ftf = f.T @ f
    sigma = np.linalg.eigvalsh(ftf)
    out = []
    for c in np.unique(y_labels):
        y = (y_labels == c).astype(float)
        alpha = beta = 1.0
        for _ in range(max_iter):
            t = alpha / beta
            a = alpha * np.eye(d) + beta * ftf
            m = beta * np.linalg.solve(a, f.T @ y)
            gamma = np.sum(beta * sigma / (alpha + beta * sigma))
            alpha = gamma / (m @ m + 1e-5)  # + 1e-5 as in the authors' code
            beta = (n - gamma) / (np.sum((f @ m - y) ** 2) + 1e-5)
            if abs(alpha / beta - t) <= tol * t:
                break
        a = alpha * np.eye(d) + beta * ftf
        m = beta * np.linalg.solve(a, f.T @ y)
        evidence = (
            d / 2 * math.log(alpha)
            + n / 2 * math.log(beta)
            - beta / 2 * np.sum((f @ m - y) ** 2)
            - alpha / 2 * (m @ m)
            - 0.5 * np.linalg.slogdet(a)[1]
            - n / 2 * math.log(2 * math.pi)
        )
        out.append(evidence / n)
    return float(np.mean(out))


def leep_direct(theta, y):
    """Nguyen et al. 2020, with explicit loops over examples, target and source classes."""
    n, zs = theta.shape
    ks = sorted(set(y.tolist()))
    joint = {
        (yy, z): sum(theta[i, z] for i in range(n) if y[i] == yy) / n
        for yy in ks
        for z in range(zs)
    }
    marg = {z: sum(joint[(yy, z)] for yy in ks) for z in range(zs)}
    total = 0.0
    for i in range(n):
        total += math.log(
            sum(joint[(y[i], z)] / marg[z] * theta[i, z] for z in range(zs) if marg[z] > 0)
        )
    return total / n


def nce_direct(z, y):
    """Tran et al. 2019: -H(Y|Z) = sum_z P(z) sum_y P(y|z) log P(y|z), from counts."""
    n = len(y)
    pz = Counter(z.tolist())
    pyz = Counter(zip(y.tolist(), z.tolist()))
    h = 0.0
    for (_, zz), c in pyz.items():
        p_joint, p_cond = c / n, c / pz[zz]
        h -= p_joint * math.log(p_cond)
    return -h


def hscore_direct(f, y):
    """Bao et al. 2019 + Ibrahim et al. 2022 with scikit-learn's Ledoit-Wolf and per-example
    class means: tr(pinv(cov_a(f)) (1 - a) cov(E[f|y]))."""
    lw = LedoitWolf().fit(f)
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(axis=0)
    gc = g - g.mean(axis=0)
    covg = gc.T @ gc / len(f)
    return float(np.trace(np.linalg.pinv(lw.covariance_) @ ((1 - lw.shrinkage_) * covg)))


def knn_direct(f, y, k):
    """Leave-one-out majority vote of the k most cosine-similar others, example by example."""
    correct = 0
    for i in range(len(f)):
        sims = sorted(
            (
                (f[i] @ f[j] / (np.linalg.norm(f[i]) * np.linalg.norm(f[j])), j)
                for j in range(len(f))
                if j != i
            ),
            reverse=True,
        )[:k]
        votes, weight = Counter(), Counter()
        for s, j in sims:
            votes[y[j]] += 1
            weight[y[j]] += s
        pred = max(sorted(votes), key=lambda c: (votes[c], weight[c]))
        correct += pred == y[i]
    return correct / len(f)


# ------------------------------------------------------------------------- golden values
@pytest.mark.parametrize("shape", [(240, 12), (30, 50)])  # tall, and wide (rank-deficient)
def test_logme_matches_direct_formula(shape):
    x, y, _ = synthetic(n=shape[0], d=shape[1], k=3)
    assert abs(compute_score("logme", x, y) - logme_direct(x, y)) < TOL


def test_leep_matches_direct_formula():
    x, y, p = synthetic()
    p[:, 3] = 0.0  # a source class that never gets mass
    p /= p.sum(1, keepdims=True)
    assert abs(compute_score("leep", x, y, p) - leep_direct(p, y)) < TOL


def nleep_direct(f, y, variance=0.8, per_class=5, seed=0):
    """Li et al. 2021: PCA keeping ``variance``, a Gaussian mixture of per_class x K diagonal
    components on it, then LEEP of its posteriors, with explicit loops over examples."""
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    z = PCA(n_components=variance, svd_solver="full", random_state=seed).fit_transform(f)
    k = len(np.unique(y))
    gmm = GaussianMixture(
        n_components=per_class * k,
        covariance_type="diag",
        reg_covar=1e-4,
        random_state=seed,
        max_iter=200,
    ).fit(z)
    post = gmm.predict_proba(z)
    return leep_direct(post, y)


def test_nleep_matches_direct_formula_and_needs_no_source_head():
    x, y, _ = synthetic()
    assert abs(compute_score("nleep", x, y) - nleep_direct(x, y)) < TOL
    informative, noise = (
        compute_score("nleep", x, y),
        compute_score("nleep", np.random.default_rng(1).normal(size=x.shape), y),
    )
    assert informative > noise  # features that separate the classes score higher
    assert -math.log(4) - TOL <= noise <= 0.0


def test_nce_matches_direct_formula_from_probs_and_hard_labels():
    x, y, p = synthetic()
    expected = nce_direct(p.argmax(1), y)
    assert abs(compute_score("nce", x, y, p) - expected) < TOL
    assert abs(compute_score("nce", x, y, p.argmax(1)) - expected) < TOL


def test_hscore_matches_direct_formula_and_ledoit_wolf_matches_sklearn():
    x, y, _ = synthetic(n=60, d=40)  # D close to N: shrinkage matters
    cov, a = ledoit_wolf(x)
    lw = LedoitWolf().fit(x)
    assert abs(a - lw.shrinkage_) < 1e-10 and 0 < a < 1
    np.testing.assert_allclose(cov, lw.covariance_, atol=1e-10)
    assert abs(compute_score("hscore", x, y) - hscore_direct(x, y)) < TOL


@pytest.mark.parametrize("k", [1, 4, 7])
def test_knn_matches_direct_loop(k):
    x, y, _ = synthetic(n=80, d=5, signal=0.8)
    assert abs(compute_score("knn", x, y, k=k) - knn_direct(x, y, k)) < TOL
    small = knn_loo_predictions(x, y, 4, k, block=7)  # blocking does not change anything
    np.testing.assert_array_equal(small, knn_loo_predictions(x, y, 4, k))


def test_linear_probe_matches_sklearn_cross_val_predict():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, _ = synthetic(n=120, d=6, signal=0.7)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    pred = cross_val_predict(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert abs(compute_score("linear-probe", x, y) - np.mean(pred == y)) < TOL


def test_logme_converges_when_features_fit_the_labels_exactly():
    y = np.arange(100) % 4
    x = np.c_[np.eye(4)[y], np.random.default_rng(0).normal(size=(100, 3))]
    exact = compute_score("logme", x, y)
    assert np.isfinite(exact) and exact == pytest.approx(
        compute_score("logme", x, y, max_iter=1000)
    )
    assert exact > compute_score("logme", x + np.random.default_rng(1).normal(size=x.shape), y)


@pytest.mark.parametrize("n", [1, 2, 9, 60])
def test_eigh_project_matches_numpy_eigh(n):
    from transferkit.transferability.logme import eigh_project

    rng = np.random.default_rng(n)
    a = rng.normal(size=(n + 3, n))
    g, b = a.T @ a, rng.normal(size=(n, 4))
    w, proj = eigh_project(g, b)
    w2, v = np.linalg.eigh(g)
    np.testing.assert_allclose(w, w2, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(proj**2, (v.T @ b) ** 2, rtol=1e-8, atol=1e-10)


def test_logme_of_float32_features_agrees_with_float64():
    x, y, _ = synthetic(n=9000, d=64, k=5)
    x32 = x.astype(np.float32)
    exact = compute_score("logme", x32.astype(np.float64), y)
    assert abs(compute_score("logme", x32, y) - exact) < TOL


# --------------------------------------------------------------------------- invariances
def test_logme_unchanged_by_permuting_examples():
    x, y, _ = synthetic()
    perm = np.random.default_rng(1).permutation(len(y))
    assert abs(compute_score("logme", x, y) - compute_score("logme", x[perm], y[perm])) < 1e-10


def test_hscore_unchanged_by_shifting_features():
    x, y, _ = synthetic()
    shift = np.random.default_rng(2).normal(size=x.shape[1]) * 100
    a, b = compute_score("hscore", x, y), compute_score("hscore", x + shift, y)
    assert abs(a - b) < 1e-6 * max(1.0, abs(a))


@pytest.mark.parametrize("seed", range(5))
def test_leep_lies_in_minus_log_k_to_zero_and_nce_is_not_positive(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    y = np.r_[np.arange(k), rng.integers(0, k, 60)]
    p = rng.dirichlet(np.full(9, 0.3), len(y))
    x = rng.normal(size=(len(y), 3))
    assert -math.log(k) - 1e-12 <= compute_score("leep", x, y, p) <= 0.0
    assert -math.log(k) - 1e-12 <= compute_score("nce", x, y, p) <= 0.0


@pytest.mark.parametrize("name", SCORES.list())
def test_every_score_is_deterministic_finite_and_higher_for_informative_features(name):
    x, y, p = synthetic(signal=2.0)
    rng = np.random.default_rng(3)
    noise, noise_p = rng.normal(size=x.shape), rng.dirichlet(np.ones(p.shape[1]), len(y))
    score = SCORES.get(name)()
    good = score.score(x, y, p)
    assert np.isfinite(good) and good == score.score(x, y, p)
    assert good > score.score(noise, y, noise_p)
    assert isinstance(SCORES.get(name).needs_source, bool)


@pytest.mark.parametrize("name", SCORES.list())
def test_constant_columns_are_dropped(name):
    x, y, p = synthetic()
    with_const = np.c_[x[:, :3], np.full(len(x), 7.0), x[:, 3:], np.zeros(len(x))]
    expected = compute_score(name, x, y, p)
    assert compute_score(name, with_const, y, p) == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", SCORES.list())
def test_bad_input_gives_user_errors_that_name_the_problem(name):
    x, y, p = synthetic(n=40)
    cases = [
        ((x, np.zeros(len(x), int), p), "single class"),
        ((x[:4], np.arange(4), p[:4]), "more examples than classes"),
        ((x, y[:-1], p), "40 feature rows but 39 labels"),
        ((np.where(np.arange(40)[:, None] == 3, np.nan, x), y, p), "NaN in 1 of 40 rows (row 3)"),
        ((np.ones_like(x), y, p), "every feature column is constant"),
        ((x[:, 0], y, p), "2-D array"),
    ]
    for args, message in cases:
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            compute_score(name, *args)


def test_source_scores_need_valid_source_predictions():
    x, y, p = synthetic(n=40)
    for name in ("leep", "nce"):
        assert SCORES.get(name).needs_source
        with pytest.raises(UserError, match="source"):
            compute_score(name, x, y, None)
        with pytest.raises(UserError, match="probabilities"):
            compute_score(name, x, y, p * 3)
        with pytest.raises(UserError, match="rows of source predictions"):
            compute_score(name, x, y, p[:-1])
    assert not any(SCORES.get(n).needs_source for n in ("logme", "hscore", "knn", "linear-probe"))


def test_unknown_score_name_suggests_close_ones():
    with pytest.raises(UserError, match="Did you mean 'logme'"):
        SCORES.get("logm")


def test_linear_probe_needs_two_examples_of_every_class():
    x, y, _ = synthetic(n=40)
    y = y.copy()
    y[0] = 9
    with pytest.raises(UserError, match="single example"):
        compute_score("linear-probe", x, y)
