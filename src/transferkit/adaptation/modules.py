"""Modules the deep adaptation methods share: gradient reversal with DANN's warm-up schedule,
the domain discriminator, and CDAN's multilinear (or randomised multilinear) conditioning map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from transferkit.config import opt


def grl_coefficient(progress: float, gamma: float = 10.0) -> float:
    r"""DANN's warm-up of the reversal strength (Ganin et al., "Domain-Adversarial Training of
    Neural Networks", JMLR 2016, Section 5.2.2):

        \lambda_p = 2 / (1 + exp(-\gamma p)) - 1,   p = training progress in [0, 1]

    so the noisy discriminator of the first steps barely moves the features."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.coeff * grad, None


def reverse_gradient(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``-coeff`` on the way back (the GRL of
    Ganin & Lempitsky, ICML 2015, eq. 11: R(x) = x, dR/dx = -\\lambda I)."""
    return _Reverse.apply(x, coeff)


@dataclass
class DiscriminatorOptions:
    """The domain discriminator's size, shared by the methods that train one (``--hidden``)."""

    prefix = ""
    hidden: int = opt(1024, "Hidden units of the domain discriminator (dann, cdan).", min=1)


class DomainDiscriminator(nn.Module):
    """The domain classifier of DANN / CDAN: an MLP from a feature to one logit
    (Linear-BN-ReLU twice, then Linear; as in the papers' 1024-unit discriminators)."""

    def __init__(self, in_features: int, hidden: int = 1024) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class MultilinearMap(nn.Module):
    r"""CDAN's conditioning T(f, g) (Long et al., "Conditional Adversarial Domain Adaptation",
    NeurIPS 2018, eq. 4 and 5): the flattened outer product f \otimes g when
    d_f * d_g <= ``max_dim``, else the randomised multilinear map
    (1/\sqrt{d}) (R_f f) \odot (R_g g) with fixed Gaussian R_f, R_g (d = ``output_dim``),
    whose inner products approximate those of f \otimes g."""

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        max_dim: int = 4096,
        output_dim: int = 1024,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.randomized = feature_dim * num_classes > max_dim
        if self.randomized:
            g = torch.Generator().manual_seed(seed)
            self.register_buffer("rf", torch.randn(feature_dim, output_dim, generator=g))
            self.register_buffer("rg", torch.randn(num_classes, output_dim, generator=g))
            self.out_features = output_dim
        else:
            self.out_features = feature_dim * num_classes

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if self.randomized:
            return (f @ self.rf) * (g @ self.rg) / math.sqrt(self.out_features)
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)
