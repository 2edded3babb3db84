"""Plain conv nets: conv-BN-ReLU blocks (2x2 max-pool after all but the last) and global
average pooling. ``tiny-cnn`` (tests) and ``cnn-small`` (28 px grey images, to pretrain one's
own source model) are two sizes of it."""

from __future__ import annotations

import torch
from torch import nn

from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import attach_source_head


def conv_block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ConvNet(Backbone):
    """One block per width; ``num_features`` is the last width. No source head."""

    def __init__(self, name: str, widths: tuple[int, ...], data_config: DataConfig) -> None:
        super().__init__()
        chans = (data_config.input_size[0], *widths)
        self.layers = nn.ModuleList(
            conv_block(chans[i], chans[i + 1], pool=i < len(widths) - 1) for i in range(len(widths))
        )
        self.num_features = widths[-1]
        self.data_config = data_config
        self.spec = BackboneSpec(name, {})
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
