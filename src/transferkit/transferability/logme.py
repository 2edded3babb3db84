"""LogME: the log marginal evidence of a Bayesian linear model on the features.

You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021.
"""

from __future__ import annotations

import numpy as np

from transferkit.transferability.base import SCORES, Inputs, Score

_TINY = 1e-300


def project(f: np.ndarray, y: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """The SVD pieces LogME needs for F = U S V^T (N x D): ``sigma`` = the non-zero s_i^2 and
    ``x`` = U^T y for targets ``y`` (N, K).

    Computed from the smaller Gram matrix with one symmetric eigendecomposition: for N >= D,
    F^T F = V S^2 V^T and U^T y = S^-1 V^T (F^T y), so U (N x D) is never formed; for N < D,
    F F^T = U S^2 U^T. Same factors as ``np.linalg.svd`` at a fraction of its cost on tall
    feature matrices. Directions with s_i^2 below ``rtol`` times the largest are numerical
    zeros (rank deficiency) and are left out.
    """
    n, d = f.shape
    if d <= n:
        sigma, v = np.linalg.eigh(f.T @ f)
        keep = sigma > rtol * max(sigma[-1], _TINY)
        sigma, v = sigma[keep], v[:, keep]
        return sigma, (v.T @ (f.T @ y)) / np.sqrt(sigma)[:, None]
    sigma, u = np.linalg.eigh(f @ f.T)
    keep = sigma > rtol * max(sigma[-1], _TINY)
    return sigma[keep], u[:, keep].T @ y


def logme_evidence(
    f: np.ndarray, y: np.ndarray, *, tol: float = 1e-6, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-target evidence / N, alpha and beta for targets ``y`` (N, K), all K at once.

    The fixed point of You et al. (Algorithm 2 of the journal version) on the SVD of ``f``:
    with x = U^T y, t = alpha / beta and sigma_i = s_i^2,

        gamma  = sum_i sigma_i / (sigma_i + t)
        m^T m  = sum_i sigma_i x_i^2 / (sigma_i + t)^2
        ||F m - y||^2 = sum_i t^2 x_i^2 / (sigma_i + t)^2 + (||y||^2 - ||x||^2)
        alpha <- gamma / m^T m ,   beta <- (N - gamma) / ||F m - y||^2

    until t changes by less than ``tol`` (relative). Each column iterates on its own (a column
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
        a_new = gamma / np.maximum(m2, _TINY)
        b_new = (n - gamma) / np.maximum(res2, _TINY)
        done = np.abs(a_new / b_new - t) <= tol * t
        alpha[active], beta[active] = a_new, b_new
        active[np.flatnonzero(active)[done]] = False
        if not active.any():
            break
    t = alpha / beta
    _, m2, res2 = _moments(s, x2, outside, t)
    rank = len(sigma)
    log_det = np.log(alpha[None, :] + beta[None, :] * s).sum(axis=0) + (d - rank) * np.log(alpha)
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - beta / 2 * res2 - alpha / 2 * m2
                - log_det / 2 - n / 2 * np.log(2 * np.pi))
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
    over the eigenvalues sigma_i of F^T F). LogME = (1/K) sum_k L_k / N.

    The SVD of F is computed once and every class iterates on it together (see
    :func:`logme_evidence`); 50,000 x 1,280 features take a couple of seconds on two cores.
    Features are used as given (no centring), as in the paper.
    """

    needs_source = False
    name = "logme"

    def __init__(self, tol: float = 1e-6, max_iter: int = 100) -> None:
        self.tol = tol
        self.max_iter = max_iter

    def _score(self, inputs: Inputs) -> float:
        evidence, _, _ = logme_evidence(inputs.features, inputs.onehot, tol=self.tol,
                                        max_iter=self.max_iter)
        return float(evidence.mean())
