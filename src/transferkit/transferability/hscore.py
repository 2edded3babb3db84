"""H-score with Ledoit-Wolf shrinkage of the feature covariance.

Bao, Li, Huang, Zheng, Zhang, Tan, "An Information-Theoretic Approach to Transferability in
Task Transfer Learning", ICIP 2019; regularised with shrinkage as in Ibrahim, Ponomareva,
Mazumder, "Newer is not always better: Rethinking transferability metrics, their
peculiarities, stability and performance", ECML-PKDD 2022.
"""

from __future__ import annotations

import numpy as np

from transferkit.transferability.base import SCORES, Inputs, Score


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrunk covariance of ``x`` (N, D) and its shrinkage intensity.

    Ledoit & Wolf, "A well-conditioned estimator for large-dimensional covariance matrices",
    J. Multivariate Analysis 2004: Sigma_a = (1 - a) S + a mu I with S = X_c^T X_c / N,
    mu = tr(S) / D, and a = min(b^2, d^2) / d^2 where d^2 = ||S - mu I||_F^2 / D and
    b^2 = 1/(D N^2) sum_i ||x_i x_i^T - S||_F^2 (the same estimate as scikit-learn's).
    """
    n, d = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n
    mu = np.trace(s) / d
    x2 = xc * xc
    # sum_i ||x_i x_i^T - S||_F^2 = sum_i ||x_i||^4 - N ||S||_F^2
    b2 = (((x2.sum(axis=1)) ** 2).sum() / n - (s * s).sum()) / (d * n)
    d2 = ((s * s).sum() - 2 * mu * np.trace(s) + d * mu * mu) / d
    a = 0.0 if d2 <= 0 else float(min(b2, d2) / d2)
    shrunk = (1 - a) * s
    shrunk[np.diag_indices(d)] += a * mu
    return shrunk, a


@SCORES.register("hscore")
class HScore(Score):
    r"""Regularised H-score: how well the class-conditional means of the features explain
    their covariance (Bao et al., ICIP 2019), with a Ledoit-Wolf shrunk feature covariance so
    that it stays stable when D is large relative to N (Ibrahim et al., 2022):

        H(f)       = tr( cov(f)^{-1} cov(E[f | y]) )                        (Bao et al.)
        H_alpha(f) = tr( cov_alpha(f)^{-1} (1 - alpha) cov(E[f | y]) )      (Ibrahim et al.)

    where cov_alpha(f) = (1 - alpha) cov(f) + alpha tr(cov(f))/D I is the Ledoit-Wolf
    estimate with its shrinkage alpha, and E[f | y] replaces each example's features by the
    mean of its class (so cov(E[f|y]) = sum_c (n_c / N) (mu_c - mu)(mu_c - mu)^T). Both
    covariances are normalised by N. The score is unchanged by shifting the features.
    """

    needs_source = False

    def _score(self, inputs: Inputs) -> float:
        f, y, k = inputs.features, inputs.labels, inputs.num_classes
        import scipy.linalg

        cov, alpha = ledoit_wolf(f)
        counts = np.bincount(y, minlength=k).astype(np.float64)
        sums = inputs.onehot.T @ f
        diff = sums / counts[:, None] - f.mean(axis=0)  # (K, D): mu_c - mu
        try:
            solved = scipy.linalg.solve(cov, diff.T, assume_a="pos")  # (D, K)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            solved = np.linalg.pinv(cov, hermitian=True) @ diff.T
        weights = counts / len(y)
        return float((1 - alpha) * (weights * (diff.T * solved).sum(axis=0)).sum())
