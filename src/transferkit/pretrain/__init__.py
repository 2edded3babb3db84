"""Making one's own source model: supervised, autoencoder, VAE, contrastive (one file each)."""

from transferkit.pretrain import autoencoder, contrastive, supervised, vae  # noqa: F401
from transferkit.pretrain.base import METHODS, PretrainConfig, PretrainTask
from transferkit.pretrain.run import PretrainResult, pretrain

__all__ = ["METHODS", "PretrainConfig", "PretrainResult", "PretrainTask", "pretrain"]
