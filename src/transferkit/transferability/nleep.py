"""N-LEEP: LEEP with a Gaussian mixture on the target features in place of the source head.

Li, Zhang, Fang, Wang, Gong, Zhu, Jin, Zhang, "Ranking Neural Checkpoints", CVPR 2021.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from transferkit.config import opt
from transferkit.transferability.base import SCORES, Inputs, Score
from transferkit.transferability.leep import leep_of


@dataclass
class NLEEPOptions:
    variance: float = opt(0.8, "nleep: share of the feature variance the PCA keeps.", gt=0, max=1)
    components: int = opt(5, "nleep: Gaussian components per target class.", min=1)


@SCORES.register("nleep")
class NLEEP(Score):
    r"""N-LEEP (Li et al., CVPR 2021): the features are reduced by PCA to the components that
    keep ``variance`` of their variance, a Gaussian mixture with V = ``components`` x K
    components (K target classes; fewer when there are not enough examples) is fitted to them,
    and its posteriors P(v | x) stand in for the source head's predictions in LEEP:

        N-LEEP = 1/N sum_i log( sum_v P^(y_i | v) P(v | x_i) ),
        P^(y | v) = sum_{i: y_i = y} P(v | x_i) / sum_i P(v | x_i).

    It needs no source head, so it scores any backbone (self-supervised, text encoders). The
    mixture is fitted with a fixed ``seed`` (diagonal covariances), so the score is repeatable.
    """

    order_free = (
        False  # its Gaussian mixture starts from k-means++ seeds drawn in the examples' order
    )

    needs_source = False
    options = NLEEPOptions

    def __init__(self, variance: float = 0.8, components: int = 5, seed: int = 0) -> None:
        self.variance, self.components, self.seed = float(variance), int(components), int(seed)

    def _score(self, inputs: Inputs) -> float:
        from sklearn.decomposition import PCA
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        f = inputs.features
        keep = self.variance if self.variance < 1 else None
        z = PCA(n_components=keep, svd_solver="full", random_state=self.seed).fit_transform(f)
        v = max(1, min(self.components * inputs.num_classes, len(f) // 2))
        gmm = GaussianMixture(
            n_components=v,
            covariance_type="diag",
            reg_covar=1e-4,
            random_state=self.seed,
            max_iter=200,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            posteriors = gmm.fit(z).predict_proba(z)  # (N, V)
        return leep_of(posteriors, inputs.labels, inputs.num_classes)
