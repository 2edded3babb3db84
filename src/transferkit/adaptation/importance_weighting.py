"""``importance-weighting``: covariate-shift correction by a density ratio (Shimodaira, "Improving
Predictive Inference under Covariate Shift by Weighting the Log-Likelihood Function", JSPS
2000; the ratio from a discriminative domain classifier as in Bickel, Brueckner, Scheffer,
"Discriminative Learning Under Covariate Shift", JMLR 2009): the source log-likelihood is
weighted by w(x) = p_T(x) / p_S(x) = (n_S / n_T) P(target | x) / P(source | x), so the
source risk becomes an estimate of the target risk.
"""

from __future__ import annotations

import numpy as np

from transferkit.adaptation.base import SHALLOW_METHODS, ShallowMethod
from transferkit.adaptation.risk_estimates import density_ratio


@SHALLOW_METHODS.register("importance-weighting")
class ImportanceWeighting(ShallowMethod):
    """Logistic regression on source features weighted by the domain-classifier density ratio
    (normalised to mean 1)."""

    def sample_weights(self, fs_mapped: np.ndarray, ft_mapped: np.ndarray) -> np.ndarray:
        w = density_ratio(fs_mapped, ft_mapped, fs_mapped, seed=self.seed)
        self.weights_ = w / w.mean()
        return self.weights_
