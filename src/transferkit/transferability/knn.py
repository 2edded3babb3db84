"""Leave-one-out k-nearest-neighbour accuracy in the feature space (a cheap proxy score)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.config import opt
from transferkit.errors import UserError
from transferkit.transferability.base import SCORES, Inputs, Score


def knn_loo_predictions(
    f: np.ndarray, labels: np.ndarray, num_classes: int, k: int, block: int | None = None
) -> np.ndarray:
    """Leave-one-out predictions by majority vote of the ``k`` most cosine-similar other
    examples; ties go to the class whose voters are more similar in total, then to the lower
    class index. Works in row blocks so memory stays O(block x N)."""
    n = len(f)
    k = max(1, min(k, n - 1))
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    xn = f / np.maximum(norms, 1e-300)
    block = block or max(1, 2**22 // max(n, 1))
    # votes dominate; the summed similarity (|.| <= k) only breaks ties between equal counts
    weight = 2.0 * k + 2.0
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        sim = xn[start:stop] @ xn.T
        rows = np.arange(stop - start)
        sim[rows, np.arange(start, stop)] = -np.inf  # leave the example itself out
        nb = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        nb_sim = np.take_along_axis(sim, nb, axis=1)
        tally = np.zeros((stop - start, num_classes))
        np.add.at(tally, (rows[:, None], labels[nb]), weight + nb_sim)
        out[start:stop] = tally.argmax(axis=1)
    return out


@dataclass
class KNNOptions:
    k: int = opt(5, "Neighbours of the knn score.", min=1)


@SCORES.register("knn")
class KNNAccuracy(Score):
    r"""Leave-one-out kNN accuracy with cosine similarity: for each example, the majority
    label among its ``k`` nearest other examples (cos(a, b) = a.b / |a||b|) is its prediction;
    the score is the fraction predicted right. A classic, assumption-free proxy for how
    linearly / locally separable the target classes are in the source feature space (used as a
    baseline in e.g. Kornblith, Shlens, Le, "Do Better ImageNet Models Transfer Better?",
    CVPR 2019). O(N^2 D): meant for samples of a few thousand examples.
    """

    needs_source = False
    options = KNNOptions

    def __init__(self, k: int = 5) -> None:
        if int(k) != k or k < 1:
            raise UserError(f"knn needs at least 1 neighbour (--knn-k), not {k}.")
        self.k = int(k)

    def _score(self, inputs: Inputs) -> float:
        pred = knn_loo_predictions(inputs.features, inputs.labels, inputs.num_classes, self.k)
        return float(np.mean(pred == inputs.labels))
