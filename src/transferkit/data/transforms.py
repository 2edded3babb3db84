"""Image transforms built from a backbone's :class:`~transferkit.zoo.base.DataConfig`.

Preprocessing travels with the weights (as in timm), so the transform is derived from the
config: size, mean/std, interpolation and crop fraction. Training augmentation comes from timm's
transform factory with settings for small datasets: random resized crop over 50-100% of the
image (not timm's ImageNet 8-100%, which would lose most of a 28 px digit), a horizontal flip
only where it keeps the label, no AutoAugment and no random erasing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from transferkit.data.base import Dataset
from transferkit.zoo.base import DataConfig

SMALL_IMAGE = 64  # sources up to this many pixels a side are resized, never center-cropped
TRAIN_SCALE = (0.8, 1.0)  # mild: small targets (28 px items) lose the object at 0.5


def to_pil(image: np.ndarray, channels: int) -> Image.Image:
    """A uint8 (H, W) / (H, W, C) array as a PIL image with ``channels`` (1 or 3) channels."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    img = Image.fromarray(arr)
    want = "L" if channels == 1 else "RGB"
    return img if img.mode == want else img.convert(want)


def _stats(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """Mean or std with one value per channel (averaged for grey, repeated for colour)."""
    values = tuple(float(v) for v in values)
    if len(values) == channels:
        return values
    if channels == 1:
        return (sum(values) / len(values),)
    return values * channels if len(values) == 1 else values[:channels]


class ImageTransform:
    """uint8 image array -> normalised float tensor (C, H, W); picklable for DataLoader workers."""

    def __init__(
        self,
        data_config: DataConfig,
        *,
        train: bool,
        augment: bool = True,
        hflip: bool = True,
        scale: tuple[float, float] = TRAIN_SCALE,
        color_jitter: float | None = None,  # off: grey and small images gain nothing from it
    ) -> None:
        self.channels, height, width = (int(v) for v in data_config.input_size)
        self.size = (height, width)
        self.augmenting = bool(train and augment)
        mean = _stats(data_config.mean, self.channels)
        std = _stats(data_config.std, self.channels)
        interp = data_config.interpolation
        # timm and torchvision load only when a transform is built (3-4 s of imports that a
        # command listing runs or showing help does not need)
        from timm.data import create_transform
        from timm.data.transforms import str_to_interp_mode
        from torchvision import transforms as T

        if self.augmenting:
            self.pipeline = create_transform(
                input_size=(self.channels, height, width),
                is_training=True,
                scale=tuple(scale),
                hflip=0.5 if hflip else 0.0,
                vflip=0.0,
                color_jitter=color_jitter,
                auto_augment=None,
                re_prob=0.0,
                interpolation=interp,
                mean=mean,
                std=std,
            )
        else:
            self.pipeline = create_transform(
                input_size=(self.channels, height, width),
                is_training=False,
                crop_pct=data_config.crop_pct,
                interpolation=interp,
                mean=mean,
                std=std,
            )
        # Tiny sources (digits): scale the whole image; a center crop would cut strokes off.
        self.small = T.Compose(
            [
                T.Resize(self.size, interpolation=str_to_interp_mode(interp)),
                T.ToTensor(),
                T.Normalize(mean, std),
            ]
        )

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        img = to_pil(image, self.channels)
        if not self.augmenting and max(img.size) <= SMALL_IMAGE:
            return self.small(img)
        return self.pipeline(img)

    def __repr__(self) -> str:
        kind = "train" if self.augmenting else "eval"
        return f"ImageTransform({kind}, channels={self.channels}, size={self.size})"


def build_transform(
    data_config: DataConfig, *, train: bool, augment: bool = True, hflip: bool = True
) -> Callable[[np.ndarray], torch.Tensor]:
    """The transform for training (augmented unless ``augment=False``) or evaluation.

    ``hflip`` should be the dataset's ``hflip_safe``: flipping a digit changes what it means.
    """
    return ImageTransform(data_config, train=train, augment=augment, hflip=hflip)


class ImageTorchDataset(torch.utils.data.Dataset):
    """A torch Dataset over ``indices`` of a transferkit Dataset: ``(tensor, label)`` pairs.

    The label is -1 for unlabelled data, so the same loader serves prediction and adaptation.
    """

    def __init__(
        self,
        dataset: Dataset,
        indices: np.ndarray | list[int] | None,
        transform: Callable[[np.ndarray], torch.Tensor],
    ) -> None:
        self.dataset = dataset
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, int]:
        i = int(self.indices[j])
        labels = self.dataset.labels
        return self.transform(self.dataset.load(i)), -1 if labels is None else int(labels[i])
