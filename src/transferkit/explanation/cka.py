"""Linear centred kernel alignment (CKA) between two representations of the same examples.

Kornblith, Norouzi, Lee & Hinton, "Similarity of Neural Network Representations Revisited",
ICML 2019. For representations X (n x p) and Y (n x q) of the same n examples, with columns
centred,

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)

which is HSIC with linear kernels, normalised. It is 1 for X = Y, invariant to orthogonal
transforms and isotropic scaling of either side (not to arbitrary invertible linear maps), and
near 0 for independent features. With more features than examples the same value is computed
from the n x n Gram matrices, which is cheaper.
"""

from __future__ import annotations

import numpy as np


def _centred(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return x - x.mean(axis=0, keepdims=True)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two (n, features) arrays over the same n examples; NaN if either side is
    constant over the examples (its similarity to anything is undefined)."""
    if len(x) != len(y):
        raise ValueError(f"CKA needs the same examples on both sides ({len(x)} vs {len(y)})")
    x, y = _centred(x), _centred(y)
    if len(x) < min(x.shape[1], y.shape[1]):  # Gram form: n x n instead of p x q
        k, l_ = x @ x.T, y @ y.T
        hsic, nx, ny = float((k * l_).sum()), float(np.linalg.norm(k)), float(np.linalg.norm(l_))
    else:
        hsic = float(np.linalg.norm(y.T @ x) ** 2)
        nx, ny = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    if nx <= 0 or ny <= 0:
        return float("nan")
    return hsic / (nx * ny)
