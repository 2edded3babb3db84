"""Autoencoder pretraining: the backbone encodes, a linear bottleneck of ``latent_dim`` and a
convolutional decoder reconstruct the (normalised) input; loss: mean squared error
``min E||x - g(f(x))||^2``. The encoder (backbone) transfers; its pooled features are the
representation (the bottleneck only forces them to keep what reconstruction needs)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from transferkit.pretraining.base import METHODS, LatentOptions, PretrainTask
from transferkit.pretraining.decoder import Decoder


class AutoEncoder(nn.Module):
    def __init__(self, backbone, latent_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.bottleneck = nn.Linear(backbone.num_features, latent_dim)
        self.decoder = Decoder(latent_dim, backbone.data_config.input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.bottleneck(self.backbone.forward_features(x)))


@METHODS.register("autoencoder")
class AutoencoderTask(PretrainTask):
    options = LatentOptions

    def build(self) -> nn.Module:
        return AutoEncoder(self.backbone, self.opts.latent_dim)

    def compute_loss(self, model, batch, device) -> torch.Tensor:
        x = batch[0].to(device)
        return F.mse_loss(model(x).float(), x)
