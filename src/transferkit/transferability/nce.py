"""NCE: negative conditional entropy of the target labels given the source head's labels.

Tran, Nguyen, Hassner, "Transferability and Hardness of Supervised Classification Tasks",
ICCV 2019.
"""

from __future__ import annotations

import numpy as np

from transferkit.transferability.base import SCORES, Inputs, Score


@SCORES.register("nce")
class NCE(Score):
    r"""NCE (Tran et al., ICCV 2019): -H(Y | Z), with Z the source head's hard label
    (argmax of its probabilities) and Y the target label, from their empirical joint:

        P^(y, z) = #{i : y_i = y, z_i = z} / N ,   P^(z) = sum_y P^(y, z)
        NCE      = -H(Y | Z) = sum_{y, z} P^(y, z) log( P^(y, z) / P^(z) )

    It is at most 0 (Y is a function of Z) and at least -log K. ``source_probs`` may be the
    (N, Z) probabilities or the (N,) hard labels themselves.
    """

    needs_source = True

    def _score(self, inputs: Inputs) -> float:
        p = inputs.source_probs
        z = p if p.ndim == 1 else p.argmax(axis=1)
        _, z = np.unique(z, return_inverse=True)  # only the source classes that occur
        n = len(z)
        joint = np.zeros((inputs.num_classes, int(z.max()) + 1))
        np.add.at(joint, (inputs.labels, z), 1.0)
        joint /= n
        marginal = joint.sum(axis=0, keepdims=True)
        nz = joint > 0
        ratio = np.where(nz, joint / np.where(nz, marginal, 1.0), 1.0)
        return float((joint[nz] * np.log(ratio[nz])).sum())
