"""``dann``: domain-adversarial training (Ganin, Ustinova, Ajakan, Germain, Larochelle,
Laviolette, Marchand, Lempitsky, "Domain-Adversarial Training of Neural Networks", JMLR 2016).

The saddle point of eq. 9-10,

    E(theta_f, theta_y, theta_d) = L_y(source) - lambda L_d(source and target),

is found with one backward pass through a gradient reversal layer: the discriminator
minimises its domain loss L_d while the features receive its gradient reversed and scaled by
lambda_p = 2 / (1 + exp(-10 p)) - 1 (Section 5.2.2), so they become domain-invariant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transferkit.adaptation.base import DEEP_METHODS, DeepMethod
from transferkit.adaptation.modules import (
    DiscriminatorOptions,
    DomainDiscriminator,
    grl_coefficient,
    reverse_gradient,
)


def domain_adversarial_loss(
    logits: torch.Tensor, n_source: int, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy of the discriminator: source is domain 1, target domain 0
    (optionally weighted per example); the mean of the two domains' losses."""
    labels = torch.cat([logits.new_ones(n_source), logits.new_zeros(len(logits) - n_source)])
    per = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if weights is not None:
        per = per * weights
    return 0.5 * (per[:n_source].mean() + per[n_source:].mean())


@DEEP_METHODS.register("dann")
class DANN(DeepMethod):
    """Domain discriminator on gradient-reversed features."""

    options = DiscriminatorOptions

    def build(self, num_features: int, num_classes: int) -> nn.Module:
        return nn.ModuleDict({"discriminator": DomainDiscriminator(num_features, self.opts.hidden)})

    def transfer_loss(self, extra, fs, ft, ls, lt, progress):
        f = reverse_gradient(torch.cat([fs, ft]), grl_coefficient(progress))
        return domain_adversarial_loss(extra["discriminator"](f), len(fs))
