"""Variational autoencoder pretraining (Kingma & Welling, 2014, arXiv:1312.6114; beta-VAE,
Higgins et al., ICLR 2017).

    min  E_q [ ||x - g(z)||^2 ]  +  beta * KL( q(z|x) || N(0, I) ),   z = mu + sigma * eps

with ``q(z|x) = N(mu(x), diag(sigma(x)^2))`` from linear maps of the encoder's pooled features
and the reparameterisation trick. The transferred feature is the posterior mean ``mu(x)``: the
saved backbone is the encoder followed by its ``mu`` projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from transferkit.config import opt
from transferkit.pretraining.base import METHODS, LatentOptions, PretrainTask
from transferkit.pretraining.decoder import Decoder
from transferkit.zoo.projected import ProjectedBackbone


class VAE(nn.Module):
    def __init__(self, backbone, latent_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.encoder = ProjectedBackbone(backbone, latent_dim)  # mu(x); shares the backbone
        self.logvar = nn.Linear(backbone.num_features, latent_dim)
        self.decoder = Decoder(latent_dim, backbone.data_config.input_size)

    def forward(self, x: torch.Tensor):
        f = self.backbone.forward_features(x)
        mu = self.encoder.proj(f)
        logvar = self.logvar(f).clamp(-10, 10)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decoder(z), mu, logvar


def vae_loss(recon, x, mu, logvar, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-example sums over pixels and latent units, averaged over the batch."""
    rec = ((recon.float() - x) ** 2).flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).float().sum(1).mean()
    return rec + beta * kl, rec, kl


@dataclass
class VAEOptions(LatentOptions):
    beta: float = opt(1.0, "VAE: weight of the KL term.", min=0)


@METHODS.register("vae")
class VAETask(PretrainTask):
    options = VAEOptions

    def build(self) -> nn.Module:
        if self.opts.latent_dim < 1:
            from transferkit.errors import UserError

            raise UserError(f"--latent-dim must be at least 1, not {self.opts.latent_dim}.")
        return VAE(self.backbone, self.opts.latent_dim)

    def compute_loss(self, model, batch, device) -> torch.Tensor:
        x = batch[0].to(device)
        recon, mu, logvar = model(x)
        return vae_loss(recon, x, mu, logvar, self.opts.beta)[0]

    def validation_loss(self, model, batch, device):
        x = batch[0].to(device)
        recon, mu, logvar = model(x)
        total, rec, kl = vae_loss(recon, x, mu, logvar, self.opts.beta)
        return total, {"val_reconstruction": float(rec), "val_kl": float(kl)}

    def transferred(self):
        return self.model.encoder
