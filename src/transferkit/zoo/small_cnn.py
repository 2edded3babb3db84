"""``cnn-small``: a small CNN for 28x28 grey images (MNIST-like data), to pretrain one's own
source model (``transferkit pretrain --arch cnn-small``) or to train from scratch.

Four conv-BN-ReLU blocks (32/64/128/256 channels, 2x2 max-pool after the first three), global
average pooling: 256-d features, about 390k parameters. It has no published weights:
``pretrained=True`` is refused with a pointer to ``pretrain`` and ``run:ID``.
"""

from __future__ import annotations

from transferkit.errors import UserError
from transferkit.zoo.base import DataConfig
from transferkit.zoo.common import BACKBONES, ZooEntry
from transferkit.zoo.convnet import ConvNet

NAME = "cnn-small"
WIDTHS = (32, 64, 128, 256)

DATA_CONFIG = DataConfig(
    modality="image",
    input_size=(1, 28, 28),
    mean=(0.5,),
    std=(0.5,),
    interpolation="bilinear",
    crop_pct=1.0,
)


class SmallCNN(ConvNet):
    """Conv-BN-ReLU blocks with max-pooling and global average pooling."""

    def __init__(self, data_config: DataConfig = DATA_CONFIG) -> None:
        super().__init__(NAME, WIDTHS, data_config)


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
        name=NAME,
        modality="image",
        description="small CNN for 28x28 grey images; architecture only (pretrain it)",
        factory=create_small_cnn,
        available=lambda: (False, "no weights: pretrain it first"),
        params=sum(p.numel() for p in SmallCNN().parameters()),
        num_features=WIDTHS[-1],
        input_size=28,
    ),
)
