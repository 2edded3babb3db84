"""LEEP: the log expected empirical prediction of the source head on the target labels.

Nguyen, Hassner, Seeger, Archambeau, "LEEP: A New Measure to Evaluate Transferability of Learned
Representations", ICML 2020.
"""

from __future__ import annotations

import numpy as np

from transferkit.transferability.base import SCORES, Inputs, Score


def empirical_joint(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """P^(y, z) = 1/N sum_{i: y_i = y} theta(x_i)_z, a (K, Z) matrix (one-hot matmul)."""
    onehot = np.zeros((num_classes, len(labels)))
    onehot[labels, np.arange(len(labels))] = 1.0
    return onehot @ probs / len(labels)


def leep_of(theta: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """LEEP of the (N, Z) probabilities ``theta`` for labels 0..K-1 (see :class:`LEEP`)."""
    joint = empirical_joint(theta, labels, num_classes)  # (K, Z)
    marginal = joint.sum(axis=0)
    used = marginal > 0
    cond = joint[:, used] / marginal[used]  # P^(y | z)
    eep = (theta[:, used] * cond[labels]).sum(axis=1)  # sum_z P^(y_i|z) theta_iz
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))


@SCORES.register("leep")
class LEEP(Score):
    r"""LEEP (Nguyen et al., ICML 2020), the average log-likelihood of the expected empirical
    predictor built from the source head's outputs theta(x) (probabilities over Z source
    classes):

        P^(y, z)  = 1/N sum_{i: y_i = y} theta(x_i)_z ,     P^(z) = sum_y P^(y, z)
        P^(y | z) = P^(y, z) / P^(z)
        LEEP      = 1/N sum_i log( sum_z P^(y_i | z) theta(x_i)_z )

    It lies in [-log K, 0] for K target classes: P^(y|z) is one EM step for the mixture
    sum_z P(y|z) theta_z started from the uniform P(y|z) = 1/K, so it cannot do worse than
    uniform guessing. Source classes that never receive probability mass are left out.
    """

    needs_source = True

    def _score(self, inputs: Inputs) -> float:
        theta = inputs.source_probs
        if theta.ndim == 1:  # hard labels: theta is their one-hot
            theta = np.eye(int(theta.max()) + 1)[theta]
        return leep_of(theta, inputs.labels, inputs.num_classes)
