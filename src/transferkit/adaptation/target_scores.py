"""Scores of a model's predictions on unlabelled target examples (higher is better).

Two target-side criteria for choosing a domain adaptation model without target labels:

* ``snd``, soft neighbourhood density (Saito, Kim, Teterwak, Sclaroff, Darrell, Saenko, "Tune it
  the Right Way: Unsupervised Validation of Domain Adaptation via Soft Neighborhood Density",
  ICCV 2021);
* ``im``, the information-maximisation score H(mean p) - mean H(p) (compared with the others in
  Musgrave, Belongie, Lim, "Benchmarking Validation Methods for Unsupervised Domain
  Adaptation", ECCV 2022).
"""

from __future__ import annotations

import numpy as np

from transferkit.evaluation.metrics import softmax

SND_TEMPERATURE = 0.05  # the paper's


def _softmax(logits: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(logits, np.float64))


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(-1)


def snd_score(logits: np.ndarray, tau: float = SND_TEMPERATURE) -> float:
    """Soft neighbourhood density of target predictions (Saito et al. 2021): the softmax
    outputs, L2-normalised; their pairwise cosine similarities over ``tau`` with each example's
    similarity to itself left out; a softmax over each row; the mean entropy of the rows.
    Higher: predictions that sit in dense, consistent neighbourhoods."""
    p = _softmax(logits)
    if len(p) < 2:
        return float("nan")
    f = p / np.linalg.norm(p, axis=1, keepdims=True)
    sim = f @ f.T / tau
    np.fill_diagonal(sim, -np.inf)
    return float(_entropy(_softmax(sim)).mean())


def im_score(logits: np.ndarray) -> float:
    """Information maximisation of target predictions: H(mean p) - mean H(p). Higher:
    confident predictions (low per-example entropy) that still use every class."""
    p = _softmax(logits)
    return float(_entropy(p.mean(0)) - _entropy(p).mean())
