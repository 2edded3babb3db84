"""Transferability: predict from one forward pass which source model will transfer best.

Scores: one file each, registered in :data:`SCORES` (which imports every module of this
package on first use, so a new score is one new file), plain numpy / scipy / scikit-learn on
features; every score is higher-is-better. Among them LogME, LEEP and NCE (the last two need the
source head), N-LEEP (a Gaussian mixture in place of the head), the H-score and the cheap
proxies ``knn`` and ``linear-probe``; ``transferkit rank --help`` lists them all.

Source-target distances (MMD, proxy A-distance, class-conditional MMD) live in
:mod:`transferkit.transferability.similarity`; scoring candidate backbones on a dataset (load,
extract through the feature cache, score) in :mod:`transferkit.transferability.candidates`.
"""

from transferkit.transferability.base import SCORES, Inputs, Score, compute_score, prepare

__all__ = ["SCORES", "Inputs", "Score", "compute_score", "prepare"]
