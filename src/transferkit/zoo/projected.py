"""A backbone followed by a learned linear projection, saved and rebuilt like any backbone.

Pretraining methods whose transferable feature is a projection of the encoder's output use
it: the VAE's feature is the posterior mean, ``mu = W f(x) + b``. Its spec names the inner
architecture, so ``build_from_spec`` rebuilds it without the original run.
"""

from __future__ import annotations

import torch
from torch import nn

from transferkit.zoo.base import Backbone, BackboneSpec
from transferkit.zoo.common import SOURCES, Source, attach_source_head

NAME = "projected"


class ProjectedBackbone(Backbone):
    """``forward_features(x) = proj(inner.forward_features(x))``."""

    def __init__(self, inner: Backbone, dim: int) -> None:
        super().__init__()
        self.inner = inner
        self.proj = nn.Linear(inner.num_features, dim)
        self.num_features = dim
        self.data_config = inner.data_config
        self.spec = BackboneSpec(
            NAME, {"inner": {"name": inner.spec.name, "kwargs": inner.spec.kwargs}, "dim": dim}
        )
        attach_source_head(self, None, None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.inner.forward_features(x))

    def blocks(self) -> list[nn.Module]:
        return [*self.inner.blocks(), self.proj]


def build_projected(spec: BackboneSpec, data_config=None) -> ProjectedBackbone:
    from transferkit.zoo import build_from_spec

    inner_spec = BackboneSpec(spec.kwargs["inner"]["name"], dict(spec.kwargs["inner"]["kwargs"]))
    inner = build_from_spec(inner_spec, data_config)
    return ProjectedBackbone(inner, int(spec.kwargs["dim"]))


SOURCES.register(
    "projected",
    Source(
        "a backbone with a learned projection (the VAE's mean)",
        build=build_projected,
        owns=lambda spec: spec.name == "projected",
    ),
)
