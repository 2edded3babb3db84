"""Estimates of a model's target risk from held-out source data, without target labels.

The source validation loss estimates the source risk; reweighting each validation example by
the density ratio w(x) = p_T(x) / p_S(x) makes it an estimate of the target risk (covariate
shift). The ratio comes from a domain classifier (logistic regression on standardised
features), w(x) = (n_S / n_T) P(target | x) / P(source | x), trained on source-train and
target features and applied to the source-validation features.

* IWCV (Sugiyama, Krauledat, Mueller, "Covariate Shift Adaptation by Importance Weighted Cross
  Validation", JMLR 2007):  R_IWCV = 1/n sum_i w_i l_i.
* DEV (You, Wang, Long, Wang, "Towards Accurate Model Selection in Deep Unsupervised Domain
  Adaptation", ICML 2019, Algorithm 1): the same weighted losses L_i = w_i l_i with the weights
  as a control variate (E[w] = 1):  eta = -Cov(L, w) / Var(w),
  R_DEV = mean(L) + eta mean(w) - eta;  unbiased like IWCV, with lower variance.

Importance weighting assumes the source covers the target (p_S(x) > 0 wherever p_T(x) > 0).
When the domains barely overlap in a model's feature space (proxy A-distance near 2), the
domain classifier is nearly perfect, the weights collapse and the estimates are noise: DEV can
even go negative, which no risk can be. :func:`unreliable` names these cases (a negative
estimate, weights whose mean on source data is far from the 1 a correct ratio has, too few
effective examples); :mod:`transferkit.adaptation.selection` says what happens then.
"""

from __future__ import annotations

import warnings

import numpy as np

from transferkit.errors import UserError
from transferkit.threads import native_threads

PROB_CLIP = 1e-3  # domain probabilities kept in [1e-3, 1 - 1e-3]: weights at most ~1000
WEIGHT_MEAN_RANGE = (1 / 3, 3.0)  # E_S[w] = 1 for a correct ratio; outside this, it is broken
MIN_EFFECTIVE = (10, 0.05)  # at least 10 effective examples and 5% of the validation set


def density_ratio(
    f_source: np.ndarray,
    f_target: np.ndarray,
    f_query: np.ndarray,
    *,
    seed: int = 0,
    c: float = 1.0,
) -> np.ndarray:
    """w(x) = p_T(x) / p_S(x) at ``f_query`` from a domain classifier trained to tell
    ``f_source`` (0) from ``f_target`` (1); the class-prior ratio n_S / n_T is corrected."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    fs, ft = np.asarray(f_source, np.float64), np.asarray(f_target, np.float64)
    if len(fs) < 2 or len(ft) < 2:
        raise UserError("Importance weights need at least 2 source and 2 target examples.")
    x = np.concatenate([fs, ft])
    d = np.r_[np.zeros(len(fs)), np.ones(len(ft))]
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    with warnings.catch_warnings(), native_threads(x.size):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(x), d)
    p = clf.predict_proba(scaler.transform(np.asarray(f_query, np.float64)))[:, 1]
    p = np.clip(p, PROB_CLIP, 1.0 - PROB_CLIP)
    return (len(fs) / len(ft)) * p / (1.0 - p)


def iwcv_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Importance-weighted validation risk 1/n sum w_i l_i (Sugiyama et al. 2007)."""
    return float(np.mean(np.asarray(weights) * np.asarray(losses)))


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Deep embedded validation risk (You et al. 2019, Algorithm 1)."""
    w = np.asarray(weights, np.float64)
    weighted = w * np.asarray(losses, np.float64)
    if len(w) < 2:
        return float(weighted.mean())
    var = np.var(w, ddof=1)
    eta = 0.0 if var <= 1e-12 else -np.cov(weighted, w, ddof=1)[0, 1] / var
    return float(weighted.mean() + eta * w.mean() - eta)


def unreliable(estimate: float, weights: np.ndarray) -> str | None:
    """Why an importance-weighted risk ``estimate`` with these ``weights`` (on the source
    validation set) cannot be trusted, or None when nothing is wrong with it."""
    w = np.asarray(weights, np.float64)
    if not np.isfinite(estimate) or estimate < 0:
        return f"the estimate is {estimate:.3g}, and a risk cannot be negative"
    mean = float(w.mean())
    lo, hi = WEIGHT_MEAN_RANGE
    if not lo <= mean <= hi:
        return (
            f"the density-ratio weights average {mean:.3g} on source data where a correct "
            "ratio averages 1: the domains barely overlap in this feature space"
        )
    eff = float(w.sum() ** 2 / max((w * w).sum(), 1e-12))
    need = max(MIN_EFFECTIVE[0], MIN_EFFECTIVE[1] * len(w))
    if eff < need:
        return f"only {eff:.1f} effective examples of {len(w)} carry the weighted estimate"
    return None
