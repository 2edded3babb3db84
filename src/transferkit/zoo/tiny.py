"""``tiny-cnn``: a very small conv net for tests and quick experiments.

Its "pretrained" weights are NOT trained on anything: they are a fixed pseudo-random
initialisation drawn from a seeded generator, so ``pretrained=True`` gives the same weights on
every machine and call (which is what caches, identities and tests need), while
``pretrained=False`` draws fresh weights from the global RNG (so ``torch.manual_seed`` controls
them, as for any scratch model). It works at any input size from 8 px up.
"""

from __future__ import annotations

import torch
from torch import nn

from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import BACKBONES, ZooEntry, attach_source_head

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


def _conv_block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class TinyCNN(Backbone):
    """Three conv-BN-ReLU blocks (16/32/64 channels, 2x2 max-pool after the first two) and
    global average pooling: 64-d features, about 23k parameters."""

    def __init__(self, data_config: DataConfig = DATA_CONFIG) -> None:
        super().__init__()
        chans = (data_config.input_size[0], *WIDTHS)
        self.layers = nn.ModuleList(
            _conv_block(chans[i], chans[i + 1], pool=i < len(WIDTHS) - 1)
            for i in range(len(WIDTHS))
        )
        self.num_features = WIDTHS[-1]
        self.data_config = data_config
        self.spec = BackboneSpec(NAME, {})
        attach_source_head(self, None, None)  # not trained on any classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x.mean(dim=(2, 3))

    def blocks(self) -> list[nn.Module]:
        return list(self.layers)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Kaiming-normal convolutions, unit BatchNorm; from ``generator`` when given."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                elif isinstance(m, nn.BatchNorm2d):
                    m.reset_parameters()
        self.invalidate_identity()


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
    ),
)
