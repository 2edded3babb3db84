"""``cnn-small``: a small CNN for 28x28 grey images (MNIST-like data), to pretrain one's own
source model (``transferkit pretrain --arch cnn-small``) or to train from scratch.

Four conv-BN-ReLU blocks (32/64/128/256 channels, 2x2 max-pool after the first three), global
average pooling: 256-d features, about 390k parameters. It has no published weights:
``pretrained=True`` is refused with a pointer to ``pretrain`` and ``run:ID``.
"""

from __future__ import annotations

import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import BACKBONES, ZooEntry, attach_source_head

NAME = "cnn-small"
WIDTHS = (32, 64, 128, 256)

DATA_CONFIG = DataConfig(
    modality="image", input_size=(1, 28, 28), mean=(0.5,), std=(0.5,),
    interpolation="bilinear", crop_pct=1.0,
)


class SmallCNN(Backbone):
    """Conv-BN-ReLU blocks with max-pooling and global average pooling."""

    def __init__(self, data_config: DataConfig = DATA_CONFIG) -> None:
        super().__init__()
        chans = (data_config.input_size[0], *WIDTHS)
        self.layers = nn.ModuleList()
        for i in range(len(WIDTHS)):
            block: list[nn.Module] = [
                nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.ReLU(inplace=True),
            ]
            if i < len(WIDTHS) - 1:
                block.append(nn.MaxPool2d(2))
            self.layers.append(nn.Sequential(*block))
        self.num_features = WIDTHS[-1]
        self.data_config = data_config
        self.spec = BackboneSpec(NAME, {})
        attach_source_head(self, None, None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x.mean(dim=(2, 3))

    def blocks(self) -> list[nn.Module]:
        return list(self.layers)


def create_small_cnn(pretrained: bool = False) -> SmallCNN:
    if pretrained:
        raise UserError(
            f"{NAME} has no pretrained weights. Pretrain it on your source data with "
            f"`transferkit pretrain --arch {NAME} ...` and use the result as run:ID, or train it "
            "from fresh weights with --strategy scratch."
        )
    return SmallCNN()


BACKBONES.register(
    NAME,
    ZooEntry(
        name=NAME, modality="image",
        description="small CNN for 28x28 grey images; architecture only (pretrain it)",
        factory=create_small_cnn, available=lambda: (False, "no weights: pretrain it first"),
        params=sum(p.numel() for p in SmallCNN().parameters()),
        num_features=WIDTHS[-1], input_size=28,
    ),
)
