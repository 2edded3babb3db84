"""``shallow-coral``: CORrelation ALignment in closed form (Sun, Feng, Saenko, "Return of
Frustratingly Easy Domain Adaptation", AAAI 2016, Algorithm 1) on fixed features:

    C_S = cov(D_S) + lambda I,   C_T = cov(D_T) + lambda I
    D_S* = D_S C_S^{-1/2} C_T^{1/2}            (whiten the source, re-colour with the target)

after which a classifier trained on the re-coloured source is applied to the raw target. As
the paper's normalisation does, each domain is centred on its own mean first and the source
moved to the target's mean, so the linear head sees both domains at one location.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.adaptation.base import SHALLOW_METHODS, ShallowMethod
from transferkit.config import opt


def sym_power(c: np.ndarray, power: float) -> np.ndarray:
    """C^power of a symmetric positive-definite matrix by eigendecomposition."""
    vals, vecs = np.linalg.eigh(c)
    vals = np.clip(vals, 1e-12, None)
    return (vecs * vals**power) @ vecs.T


@dataclass
class CoralOptions:
    lam: float = opt(1.0, "shallow-coral: the regulariser added to both covariances.", gt=0)


@SHALLOW_METHODS.register("shallow-coral")
class ShallowCORAL(ShallowMethod):
    """Closed-form CORAL; ``lam`` is the paper's regulariser (1: 'eye')."""

    options = CoralOptions

    def fit(self, fs: np.ndarray, ft: np.ndarray) -> ShallowCORAL:
        fs, ft = np.asarray(fs, np.float64), np.asarray(ft, np.float64)
        eye = np.eye(fs.shape[1])
        self.mean_s_, self.mean_t_ = fs.mean(0), ft.mean(0)
        cs = np.cov(fs, rowvar=False) + self.opts.lam * eye
        ct = np.cov(ft, rowvar=False) + self.opts.lam * eye
        self.transform_ = sym_power(cs, -0.5) @ sym_power(ct, 0.5)
        return self

    def source_map(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.mean_s_) @ self.transform_ + self.mean_t_
