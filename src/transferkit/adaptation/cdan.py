"""``cdan``: conditional adversarial adaptation with entropy conditioning, CDAN+E (Long, Cao,
Wang, Jordan, "Conditional Adversarial Domain Adaptation", NeurIPS 2018).

The discriminator sees the multilinear map T(f, g) = f (x) g of features and (detached) class
probabilities, so it aligns the joint distribution of features and predictions (eq. 4-5;
randomised multilinear map above 4096 dimensions). Entropy conditioning (eq. 7-8) weighs each
example by w(H(g)) = 1 + exp(-H(g)), normalised within the batch, so confident predictions
count more:

    min_G  E(G) - lambda E(D, G),
    E(D, G) = -E_s[w log D(T(f, g))] - E_t[w log(1 - D(T(f, g)))]

Gradients into the features pass a reversal layer with DANN's warm-up schedule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transferkit.adaptation.base import DEEP_METHODS, DeepMethod
from transferkit.adaptation.dann import domain_adversarial_loss
from transferkit.adaptation.losses import entropy
from transferkit.adaptation.modules import (
    DiscriminatorOptions,
    DomainDiscriminator,
    MultilinearMap,
    grl_coefficient,
    reverse_gradient,
)


@DEEP_METHODS.register("cdan")
class CDAN(DeepMethod):
    """CDAN+E: multilinear conditioning and entropy weights."""

    options = DiscriminatorOptions

    def build(self, num_features: int, num_classes: int) -> nn.Module:
        mapping = MultilinearMap(num_features, num_classes, seed=self.seed)
        return nn.ModuleDict(
            {
                "map": mapping,
                "discriminator": DomainDiscriminator(mapping.out_features, self.opts.hidden),
            }
        )

    def transfer_loss(self, extra, fs, ft, ls, lt, progress):
        f = torch.cat([fs, ft])
        g = F.softmax(torch.cat([ls, lt]), dim=1).detach()
        h = reverse_gradient(extra["map"](f, g), grl_coefficient(progress))
        w = 1.0 + torch.exp(-entropy(g))
        n = len(fs)
        w = torch.cat([w[:n] / w[:n].sum() * n, w[n:] / w[n:].sum() * (len(w) - n)])
        return domain_adversarial_loss(extra["discriminator"](h), n, w)
