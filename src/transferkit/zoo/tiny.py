"""``tiny-cnn``: a very small conv net for tests and quick experiments.

Its "pretrained" weights are NOT trained on anything: they are a fixed pseudo-random
initialisation drawn from a seeded generator, so ``pretrained=True`` gives the same weights on
every machine and call (which is what caches, identities and tests need), while
``pretrained=False`` draws fresh weights from the global RNG (so ``torch.manual_seed`` controls
them, as for any scratch model). It works at any input size from 8 px up.
"""

from __future__ import annotations

import torch

from transferkit.zoo.base import DataConfig
from transferkit.zoo.common import BACKBONES, ZooEntry
from transferkit.zoo.convnet import ConvNet

NAME = "tiny-cnn"
WIDTHS = (16, 32, 64)
PRETEND_SEED = 20240531  # the seed that defines the fixed "pretrained" weights

DATA_CONFIG = DataConfig(
    modality="image",
    input_size=(3, 32, 32),
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    interpolation="bilinear",
    crop_pct=1.0,
)


class TinyCNN(ConvNet):
    """Three conv-BN-ReLU blocks (16/32/64 channels, 2x2 max-pool after the first two) and
    global average pooling: 64-d features, about 23k parameters."""

    def __init__(self, data_config: DataConfig = DATA_CONFIG) -> None:
        super().__init__(NAME, WIDTHS, data_config)


def create_tiny(pretrained: bool = True) -> TinyCNN:
    """``tiny-cnn`` with its fixed pseudo-pretrained weights, or fresh ones."""
    model = TinyCNN()
    gen = torch.Generator().manual_seed(PRETEND_SEED) if pretrained else None
    model.reset_parameters(gen)
    return model


BACKBONES.register(
    NAME,
    ZooEntry(
        name=NAME,
        modality="image",
        description="tiny CNN for tests; untrained (fixed seeded init)",
        factory=create_tiny,
        available=lambda: (True, ""),
        params=sum(p.numel() for p in TinyCNN().parameters()),
        num_features=WIDTHS[-1],
        input_size=DATA_CONFIG.input_size[-1],
        searchable=False,
    ),
)
