"""The logistic-regression head every shallow method ends with, folded into ``nn.Linear``."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from transferkit.adaptation.base import ShallowMethod
from transferkit.threads import native_threads
from transferkit.zoo.heads import fold_head


def fit_head(
    method: ShallowMethod, fs: np.ndarray, ys: np.ndarray, ft: np.ndarray, k: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]:
    """Fit ``method``'s maps, train a multinomial logistic regression on the mapped source
    (standardised, weighted by the method's sample weights). Returns the head on the mapped
    space (numpy weights, bias) and the equivalent head on RAW target features, the target map
    folded in (float32 tensors for ``nn.Linear``)."""
    method.fit(fs, ft)
    xs, xt = method.source_map(fs), method.target_map(ft)
    weights = method.sample_weights(xs, xt)
    mean, scale = xs.mean(0), xs.std(0)
    scale[scale < 1e-8] = 1.0
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=method.c, max_iter=2000, random_state=method.seed)
    with warnings.catch_warnings(), native_threads(xs.size):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((xs - mean) / scale, ys, sample_weight=weights)
    w, b = fold_head(clf, mean, scale, k)  # head on the mapped space
    a, c = method.target_affine(fs.shape[1])
    a_t = torch.tensor(a, dtype=torch.float64)
    w64, b64 = w.double(), b.double()
    w_raw = w64 @ a_t.T
    b_raw = b64 + w64 @ torch.tensor(c, dtype=torch.float64)
    return (w64.numpy(), b64.numpy()), (w_raw.float(), b_raw.float())
