"""Cross-validated linear-probe accuracy (a cheap, training-based proxy score)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.config import opt
from transferkit.errors import UserError
from transferkit.threads import native_threads
from transferkit.transferability.base import SCORES, Inputs, Score


def probe_folds(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified folds, as many as the rarest class allows (at most ``folds``)."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    rarest = int(counts[counts > 0].min())
    if rarest < 2:
        raise UserError(
            "linear-probe: a class has a single example, so it cannot be "
            "cross-validated; use at least two examples of every class."
        )
    cv = StratifiedKFold(n_splits=min(folds, rarest), shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(labels)), labels))


@dataclass
class ProbeOptions:
    prefix = "probe"  # --probe-folds
    folds: int = opt(5, "Folds of the linear-probe score.", min=2)
    c: float = opt(1.0, "Inverse regularisation strength of the linear-probe score.", gt=0)
    max_iter: int = opt(1000, "Iterations of the linear-probe score's solver.", min=1)


@SCORES.register("linear-probe")
class LinearProbe(Score):
    r"""Stratified k-fold accuracy of an L2-regularised multinomial logistic regression on
    standardised features: every example is predicted once by the model trained on the other
    folds, and the score is the fraction predicted right. The linear-evaluation protocol of
    Kornblith, Shlens, Le, "Do Better ImageNet Models Transfer Better?", CVPR 2019, made
    cheap: one fit per fold, no hyper-parameter search (C fixed).
    """

    order_free = False  # its seeded stratified folds are drawn over the examples in their order

    needs_source = False
    options = ProbeOptions

    def __init__(self, folds: int = 5, c: float = 1.0, max_iter: int = 1000, seed: int = 0) -> None:
        if int(folds) != folds or folds < 2:
            raise UserError(
                f"The linear-probe score needs at least 2 folds (--probe-folds), not {folds}."
            )
        self.folds = int(folds)
        self.c = c
        self.max_iter = max_iter
        self.seed = seed

    def _score(self, inputs: Inputs) -> float:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        f, y = inputs.features, inputs.labels
        pred = np.empty_like(y)
        for train, test in probe_folds(y, self.folds, self.seed):
            model = make_pipeline(
                StandardScaler(), LogisticRegression(C=self.c, max_iter=self.max_iter)
            )
            with native_threads(f[train].size):
                model.fit(f[train], y[train])
            pred[test] = model.predict(f[test])
        return float(np.mean(pred == y))
