"""Making one's own source model: supervised, multi-task, autoencoder, VAE, contrastive and
image-text (one file each,
registered in :data:`METHODS`, which imports every module of this package on first use).

The ``pretrain`` workflow that runs and records them is :mod:`transferkit.runs.pretrain`
(``transferkit.pretrain(...)`` from the package root).
"""

from transferkit.pretraining.base import METHODS, PretrainTask

__all__ = ["METHODS", "PretrainTask"]
