"""LogME: the log marginal evidence of a Bayesian linear model on the features.

You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.config import opt
from transferkit.transferability.base import SCORES, Inputs, Score

_TINY = 1e-300
EPS = 1e-5  # added to both denominators of the update, as in the authors' code


def eigh_project(g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``w`` of the symmetric ``g`` and the coordinates ``V^T b`` of the columns
    of ``b`` in its eigenvectors (``g = V diag(w) V^T``), without forming V.

    ``g = Q T Q^T`` by Householder tridiagonalisation (LAPACK ``sytrd``), ``T = Z diag(w) Z^T``
    by MRRR (``stemr``, O(n^2)), and ``V^T b = Z^T (Q^T b)`` with the reflectors applied to
    ``b`` only. Same results as ``np.linalg.eigh`` (backward stable), but it skips the
    O(n^3) back-transformation of the eigenvectors: several times faster for n ~ 1,000.
    A float32 ``g`` (the Gram matrix of float32 features, which holds float32 precision only)
    is tridiagonalised in float32 (``ssytrd``: half the memory traffic of this memory-bound
    step); ``T``'s eigenproblem and everything after it run in float64.
    """
    import scipy.linalg
    from scipy.linalg import lapack

    from transferkit.threads import native_threads

    n = len(g)
    if n == 1:
        return g[0].copy(), b.copy()
    # One BLAS thread: sytrd is memory-bound level-2 work, and threaded OpenBLAS slows it down
    # 10-20x when the cores are shared with other processes (0.4 s vs 8 s measured, n=1,280).
    with native_threads():
        single = g.dtype == np.float32
        sytrd, sytrd_lwork = (
            (lapack.ssytrd, lapack.ssytrd_lwork) if single else (lapack.dsytrd, lapack.dsytrd_lwork)
        )
        lwork = max(int(sytrd_lwork(n, lower=1)[0]), n)
        c, d, e, tau, info = sytrd(g, lower=1, lwork=lwork)
        if info != 0:  # pragma: no cover - LAPACK failure
            w, v = np.linalg.eigh(g.astype(np.float64))
            return w, v.T @ b
        d, e, tau = (np.asarray(a, dtype=np.float64) for a in (d, e, tau))
        qb = np.array(b, dtype=np.float64, copy=True)
        for i in range(n - 1):  # Q^T b = H(n-1) ... H(1) b, H(i) = I - tau_i v_i v_i^T
            if tau[i] != 0.0:
                v = c[i + 1 :, i].astype(np.float64)
                v[0] = 1.0
                qb[i + 1 :] -= tau[i] * np.outer(v, v @ qb[i + 1 :])
        w, z = scipy.linalg.eigh_tridiagonal(d, e)
        return w, z.T @ qb


def moments(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F^T F and F^T y, each one BLAS call on F as given (no copy of F).

    A float32 F keeps single-precision products and a float32 Gram matrix (the Gram matrix is
    most of LogME's time on tall features; relative error ~1e-7, the precision float32
    features had to begin with); F^T y is returned in float64, and the eigenproblem of the
    tridiagonal form and the fixed point that follow run in float64."""
    if f.dtype == np.float32:
        return f.T @ f, (f.T @ y.astype(np.float32)).astype(np.float64)
    f = f.astype(np.float64, copy=False)
    return f.T @ f, f.T @ y


def project(f: np.ndarray, y: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """The SVD pieces LogME needs for F = U S V^T (N x D): ``sigma`` = the non-zero s_i^2 and
    ``x`` = U^T y for targets ``y`` (N, K).

    Computed from the smaller Gram matrix: for N >= D, F^T F = V S^2 V^T and
    U^T y = S^-1 V^T (F^T y), so U (N x D) is never formed; for N < D, F F^T = U S^2 U^T.
    Same factors as ``np.linalg.svd`` at a fraction of its cost on tall feature matrices.
    Directions with s_i^2 below ``rtol`` times the largest are numerical zeros (rank
    deficiency) and are left out. A float32 ``f`` gives a faster Gram (see :func:`moments`).
    """
    n, d = f.shape
    tall = d <= n
    if tall:
        sigma, x = eigh_project(*moments(f, y))
    else:
        f = f.astype(np.float64, copy=False)
        sigma, x = eigh_project(f @ f.T, y)
    keep = sigma > rtol * max(sigma.max(), _TINY)
    sigma, x = sigma[keep], x[keep]
    return sigma, (x / np.sqrt(sigma)[:, None] if tall else x)


def logme_evidence(
    f: np.ndarray, y: np.ndarray, *, tol: float = 1e-6, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-target evidence / N, alpha and beta for targets ``y`` (N, K), all K at once.

    The fixed point of You et al. (Algorithm 2 of the journal version) on the SVD of ``f``:
    with x = U^T y, t = alpha / beta and sigma_i = s_i^2,

        gamma  = sum_i sigma_i / (sigma_i + t)
        m^T m  = sum_i sigma_i x_i^2 / (sigma_i + t)^2
        ||F m - y||^2 = sum_i t^2 x_i^2 / (sigma_i + t)^2 + (||y||^2 - ||x||^2)
        alpha <- gamma / (m^T m + eps) ,   beta <- (N - gamma) / (||F m - y||^2 + eps)

    until t changes by less than ``tol`` (relative). ``eps`` = 1e-5 as in the authors' code:
    it keeps the fixed point finite when the features fit a class exactly (residual -> 0). Each column iterates on its own (a column
    that has converged is frozen), so the result equals the per-class loop of the paper, but
    one iteration costs O(rank x K) for all classes together instead of a solve per class.
    """
    n, d = f.shape
    sigma, x = project(f, y)
    s = sigma[:, None]  # (r, 1)
    x2 = x**2  # (r, K)
    outside = np.maximum((y * y).sum(axis=0) - x2.sum(axis=0), 0.0)  # part of y outside span(F)
    k = y.shape[1]
    alpha, beta = np.ones(k), np.ones(k)
    active = np.ones(k, dtype=bool)
    for _ in range(max_iter):
        t = alpha[active] / beta[active]
        gamma, m2, res2 = _moments(s, x2[:, active], outside[active], t)
        a_new = gamma / (m2 + EPS)
        b_new = (n - gamma) / (res2 + EPS)
        done = np.abs(a_new / b_new - t) <= tol * t
        alpha[active], beta[active] = a_new, b_new
        active[np.flatnonzero(active)[done]] = False
        if not active.any():
            break
    t = alpha / beta
    _, m2, res2 = _moments(s, x2, outside, t)
    rank = len(sigma)
    log_det = np.log(alpha[None, :] + beta[None, :] * s).sum(axis=0) + (d - rank) * np.log(alpha)
    evidence = (
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - beta / 2 * res2
        - alpha / 2 * m2
        - log_det / 2
        - n / 2 * np.log(2 * np.pi)
    )
    return evidence / n, alpha, beta


def _moments(
    s: np.ndarray, x2: np.ndarray, outside: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gamma, m^T m and the squared residual at t = alpha / beta (one value per column)."""
    denom = (s + t[None, :]) ** 2
    gamma = (s / (s + t[None, :])).sum(axis=0)
    m2 = (s * x2 / denom).sum(axis=0)
    res2 = (t[None, :] ** 2 * x2 / denom).sum(axis=0) + outside
    return gamma, m2, res2


@dataclass
class LogMEOptions:
    tol: float = opt(1e-6, "Convergence tolerance of LogME's fixed-point iteration.", gt=0)
    max_iter: int = opt(100, "Most iterations of LogME's fixed-point iteration.", min=1)


@SCORES.register("logme")
class LogME(Score):
    r"""LogME (You et al., ICML 2021): the average over classes of the log evidence, per
    example, of Bayesian linear regression from the features to the one-hot label column.

    For features F (N x D), one target column y, prior w ~ N(0, alpha^-1 I) and noise
    y | F, w ~ N(F w, beta^-1 I):

        L(alpha, beta) = log p(y | F, alpha, beta)
                       = D/2 log alpha + N/2 log beta - N/2 log 2pi
                         - beta/2 ||F m - y||^2 - alpha/2 m^T m - 1/2 log |A|,
        A = alpha I + beta F^T F,   m = beta A^{-1} F^T y,

    maximised over alpha and beta by MacKay's fixed point (alpha = gamma / m^T m,
    beta = (N - gamma) / ||F m - y||^2, gamma = sum_i beta sigma_i / (alpha + beta sigma_i)
    over the eigenvalues sigma_i of F^T F; 1e-5 is added to both denominators, as in the
    authors' code, so that a class the features fit exactly stays finite).
    LogME = (1/K) sum_k L_k / N.

    The SVD of F is computed once and every class iterates on it together (see
    :func:`logme_evidence`); 50,000 x 1,280 float32 features take about 1.1 seconds on two
    cores, most of it the Gram matrix (``benchmarks/logme_speed.py``).
    Features are used as given (no centring), as in the paper.
    """

    needs_source = False
    options = LogMEOptions

    def __init__(self, tol: float = 1e-6, max_iter: int = 100) -> None:
        self.tol = tol
        self.max_iter = max_iter

    def _score(self, inputs: Inputs) -> float:
        evidence, _, _ = logme_evidence(
            inputs.raw, inputs.onehot, tol=self.tol, max_iter=self.max_iter
        )
        return float(evidence.mean())
