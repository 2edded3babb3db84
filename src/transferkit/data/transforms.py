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
import torch.nn.functional as F
from PIL import Image

from transferkit.data.base import Dataset
from transferkit.runtime.images import SMALL_IMAGE  # up to this size: resized, never cropped
from transferkit.zoo.base import DataConfig

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
        self.interpolation = interp
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self._scale, self._hflip, self._jitter = tuple(scale), hflip, color_jitter
        self._crop_pct, self._stats = data_config.crop_pct, (mean, std)
        self._pipelines: tuple | None = None

    @property
    def pipeline(self):
        """The per-image pipeline (timm's transform factory)."""
        return self._built()[0]

    def _built(self) -> tuple:
        """(the per-image pipeline, the per-image pipeline of small images), built on first
        use: timm and torchvision load only when an image is transformed one at a time
        (1.5 s of imports that the batched path of small evaluation images, listing runs or
        showing help do not need)."""
        if self._pipelines is not None:
            return self._pipelines
        from timm.data import create_transform
        from timm.data.transforms import str_to_interp_mode
        from torchvision import transforms as T

        (height, width), interp, (mean, std) = self.size, self.interpolation, self._stats
        if self.augmenting:
            pipeline = create_transform(
                input_size=(self.channels, height, width),
                is_training=True,
                scale=self._scale,
                hflip=0.5 if self._hflip else 0.0,
                vflip=0.0,
                color_jitter=self._jitter,
                auto_augment=None,
                re_prob=0.0,
                interpolation=interp,
                mean=mean,
                std=std,
            )
        else:
            pipeline = create_transform(
                input_size=(self.channels, height, width),
                is_training=False,
                crop_pct=self._crop_pct,
                interpolation=interp,
                mean=mean,
                std=std,
            )
        # Tiny sources (digits): scale the whole image; a center crop would cut strokes off.
        small = T.Compose(
            [
                T.Resize(self.size, interpolation=str_to_interp_mode(interp)),
                T.ToTensor(),
                T.Normalize(mean, std),
            ]
        )
        self._pipelines = (pipeline, small)
        return self._pipelines

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        img = to_pil(image, self.channels)
        pipeline, small = self._built()
        if not self.augmenting and max(img.size) <= SMALL_IMAGE:
            return small(img)
        return pipeline(img)

    def batch(self, images: list[np.ndarray]) -> torch.Tensor | None:
        """The transform of a whole batch of small images as tensor operations: the values of
        calling it on each image up to rounding (PIL resizes in fixed point: enlarged
        Fashion-MNIST images are identical with bilinear, and at most two grey levels apart
        on about one pixel in 10^4 with bicubic), several times
        faster. None where it does not apply (augmentation, images of different shapes or
        dtypes, images larger than ``SMALL_IMAGE``, an interpolation other than bilinear /
        bicubic, colour images for a grey model): the caller transforms each image.

        Bilinear: torch's uint8 antialiased resize, which reproduces PIL's. Bicubic: PIL
        resizes in two separable passes, horizontal then vertical, rounding and clipping to
        uint8 after each; the same two passes here (antialiased kernels, which are PIL's).
        """
        first = images[0]
        if (
            self.augmenting
            or self.interpolation not in ("bilinear", "bicubic")
            or first.dtype != np.uint8
            or max(first.shape[:2]) > SMALL_IMAGE
            or first.ndim not in (2, 3)
            or (first.ndim == 3 and first.shape[2] not in (1, 3, 4))
        ):
            return None
        if any(a.shape != first.shape or a.dtype != np.uint8 for a in images):
            return None
        x = torch.from_numpy(np.stack(images))
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)[:, :3]
        if x.shape[1] == 3 and self.channels == 1:
            return None  # PIL's luma conversion: left to the per-image path
        # a grey image for a colour model is resized on its one channel (a third of the work)
        # and becomes three by broadcasting against the per-channel mean and std at the end
        x = x.contiguous()
        (h, w), mode = x.shape[-2:], self.interpolation
        if (h, w) != self.size and mode == "bilinear":
            # torch's uint8 antialiased bilinear resize is close to PIL's, not equal: measured,
            # it differs by one grey level on 0-3% of pixels (8->14, 8->27, 28->20) and is
            # identical at others (8->32, 28->32); the exported runtime follows PIL
            x = F.interpolate(x, size=self.size, mode=mode, align_corners=False, antialias=True)
        x = x.float()
        if mode == "bicubic":  # PIL's two passes in float, each rounded and clipped to uint8
            if w != self.size[1]:
                x = (
                    F.interpolate(
                        x, size=(h, self.size[1]), mode=mode, align_corners=False, antialias=True
                    )
                    .round_()
                    .clamp_(0, 255)
                )
            if h != self.size[0]:
                x = (
                    F.interpolate(x, size=self.size, mode=mode, align_corners=False, antialias=True)
                    .round_()
                    .clamp_(0, 255)
                )
        return (x / 255.0 - self.mean) / self.std

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


class BatchTransform:
    """Collate for an :class:`ImageTorchDataset` without a transform (decoded uint8 images):
    :meth:`ImageTransform.batch` on the batch, or the
    transform image by image where batching does not apply. Picklable for DataLoader workers."""

    def __init__(self, transform: ImageTransform) -> None:
        self.transform = transform

    def __call__(self, items: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = zip(*items)
        x = self.transform.batch(list(images))
        if x is None:
            x = torch.stack([self.transform(a) for a in images])
        return x, torch.tensor(labels, dtype=torch.int64)


class ImageTorchDataset(torch.utils.data.Dataset):
    """A torch Dataset over ``indices`` of a transferkit Dataset: ``(tensor, label)`` pairs.

    The label is -1 for unlabelled data, so the same loader serves prediction and adaptation.
    """

    def __init__(
        self,
        dataset: Dataset,
        indices: np.ndarray | list[int] | None,
        transform: Callable[[np.ndarray], torch.Tensor] | None,
    ) -> None:
        self.dataset = dataset
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, int]:
        i = int(self.indices[j])
        labels = self.dataset.labels
        image = self.dataset.load(i)
        if self.transform is None:  # decoded only: a BatchTransform collate transforms them
            image = np.asarray(image)
        else:
            image = self.transform(image)
        return image, -1 if labels is None else int(labels[i])
