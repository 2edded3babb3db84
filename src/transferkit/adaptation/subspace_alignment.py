"""``subspace-alignment`` (Fernando, Habrard, Sebban, Tuytelaars, "Unsupervised Visual Domain
Adaptation Using Subspace Alignment", ICCV 2013, Algorithm 1): with X_S, X_T the top-d PCA
bases of each domain, the source basis is aligned to the target's by M* = X_S' X_T (eq. 3):

    source -> S X_S M* = S X_a,     target -> T X_T

and the classifier is trained on the aligned source and applied to the projected target.
d defaults to min(50, features, examples - 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.adaptation.base import SHALLOW_METHODS, ShallowMethod
from transferkit.config import opt


def pca_basis(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top-``d`` principal directions (columns) of ``x``."""
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:d].T


@dataclass
class SubspaceOptions:
    dim: int = opt(50, "subspace-alignment: the PCA subspace's dimension (at most).", min=1)


@SHALLOW_METHODS.register("subspace-alignment")
class SubspaceAlignment(ShallowMethod):
    """Align the source PCA subspace to the target's."""

    options = SubspaceOptions

    def fit(self, fs: np.ndarray, ft: np.ndarray) -> SubspaceAlignment:
        fs, ft = np.asarray(fs, np.float64), np.asarray(ft, np.float64)
        d = max(1, min(self.opts.dim, fs.shape[1], len(fs) - 1, len(ft) - 1))
        self.mean_s_, self.basis_s_ = pca_basis(fs, d)
        self.mean_t_, self.basis_t_ = pca_basis(ft, d)
        self.alignment_ = self.basis_s_.T @ self.basis_t_  # M*
        self.dim_ = d
        return self

    def source_map(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.mean_s_) @ self.basis_s_ @ self.alignment_

    def target_affine(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        return self.basis_t_, -self.mean_t_ @ self.basis_t_
