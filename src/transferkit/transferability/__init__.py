"""Transferability: predict from one forward pass which source model will transfer best.

Scores (one file each; each registers itself in :data:`SCORES`, which imports every module of
this package on first use, so adding a score is adding a file; plain numpy / scipy on features):
``logme`` (You et al. 2021), ``leep`` (Nguyen et al. 2020; needs the source head),
``nce`` (Tran et al. 2019; needs the source head), ``hscore`` (Bao et al. 2019 with
Ledoit-Wolf shrinkage, Ibrahim et al. 2022), and the cheap proxies ``knn`` (leave-one-out
accuracy) and ``linear-probe`` (cross-validated accuracy). Every score is higher-is-better.

Source-target distances (MMD, proxy A-distance, class-conditional MMD) live in
:mod:`transferkit.transferability.similarity`; scoring candidate backbones on a dataset (load,
extract through the feature cache, score) in :mod:`transferkit.transferability.candidates`.
"""

from transferkit.transferability.base import SCORES, Inputs, Score, compute_score, prepare

__all__ = ["SCORES", "Inputs", "Score", "compute_score", "prepare"]
