"""A linear head from a scikit-learn classifier: what the frozen-feature strategies (the linear
probe, the shallow adaptation methods) train is folded into the ``nn.Linear`` head of an
ordinary backbone + head model, so the saved model is like any other."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def fold_head(
    clf: Any, mean: np.ndarray, scale: np.ndarray, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of a Linear layer equal to ``clf`` applied to standardised input."""
    coef = np.zeros((k, mean.shape[0]))
    bias = np.full(k, -1e4)  # a class absent from training never wins
    coef_, icpt = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2 and coef_.shape[0] == 1:  # binary: one row, logit for class 1
        coef_ = np.vstack([-coef_ / 2, coef_ / 2])
        icpt = np.array([-icpt[0] / 2, icpt[0] / 2])
    coef[clf.classes_] = coef_ / scale
    bias[clf.classes_] = icpt - (coef_ / scale) @ mean
    return torch.tensor(coef, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32)
