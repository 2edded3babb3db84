"""Transforms from a DataConfig, and the torch Dataset wrapper."""

from __future__ import annotations

import pickle

import numpy as np
import torch
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision import transforms as T

from transferkit.data import ArrayDataset, ImageTorchDataset, build_transform
from transferkit.data.transforms import TRAIN_SCALE
from transferkit.zoo.base import DataConfig

CFG = DataConfig(input_size=(3, 32, 32), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5), crop_pct=0.875)


def steps(transform):
    return [type(t).__name__ for t in transform.pipeline.transforms]


def test_eval_normalises_and_makes_three_channels():
    out = build_transform(CFG, train=False)(np.full((28, 28), 128, np.uint8))
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    expected = (128 / 255 - torch.tensor(CFG.mean)) / torch.tensor(CFG.std)
    assert torch.allclose(out.mean(dim=(1, 2)), expected, atol=1e-4)


def test_tiny_images_resized_whole_not_cropped():
    rng = np.random.default_rng(0)
    digit = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    out = build_transform(CFG, train=False)(digit)
    img = Image.fromarray(digit).convert("RGB").resize((32, 32), Image.BICUBIC)
    ref = T.Normalize(CFG.mean, CFG.std)(T.ToTensor()(img))
    assert torch.allclose(out, ref, atol=2e-2)


def test_large_images_use_timm_eval_resize_and_center_crop():
    t = build_transform(CFG, train=False)
    assert steps(t)[:2] == ["Resize", "CenterCrop"]
    assert t(np.zeros((100, 80, 3), np.uint8)).shape == (3, 32, 32)


def test_rgb_to_grey_config():
    grey = DataConfig(input_size=(1, 16, 16), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    for train in (False, True):
        out = build_transform(grey, train=train)(np.full((20, 20, 3), 255, np.uint8))
        assert out.shape == (1, 16, 16)
    assert torch.allclose(
        build_transform(grey, train=False)(np.full((20, 20, 3), 255, np.uint8)), torch.ones(1)
    )


def test_train_augmentation_settings():
    t = build_transform(CFG, train=True, hflip=True)
    assert steps(t)[0] == "RandomResizedCropAndInterpolation" and "RandomHorizontalFlip" in steps(t)
    rrc = t.pipeline.transforms[0]
    assert isinstance(rrc, RandomResizedCropAndInterpolation) and tuple(rrc.scale) == TRAIN_SCALE
    assert TRAIN_SCALE[0] >= 0.5  # a mild crop: small targets keep their object
    assert not {"RandomErasing", "AutoAugment", "RandAugment", "ColorJitter"} & set(steps(t))
    assert "RandomHorizontalFlip" not in steps(build_transform(CFG, train=True, hflip=False))
    out = t(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8))
    assert out.shape == (3, 32, 32)


def test_no_augment_is_eval():
    x = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    a = build_transform(CFG, train=True, augment=False)(x)
    assert torch.equal(a, build_transform(CFG, train=False)(x))


def test_transform_pickles_for_workers():
    t = build_transform(CFG, train=True)
    clone = pickle.loads(pickle.dumps(t))
    assert clone(np.zeros((28, 28), np.uint8)).shape == (3, 32, 32)


def test_image_torch_dataset():
    images = np.arange(5 * 6 * 6, dtype=np.uint8).reshape(5, 6, 6)
    ds = ArrayDataset(images, np.array([0, 1, 0, 1, 1]), ["a", "b"])
    t = build_transform(CFG, train=False)
    tds = ImageTorchDataset(ds, np.array([4, 0]), t)
    assert len(tds) == 2 and tds[0][1] == 1 and tds[1][1] == 0
    batch, labels = next(iter(torch.utils.data.DataLoader(tds, batch_size=2)))
    assert batch.shape == (2, 3, 32, 32) and labels.tolist() == [1, 0]
    unlabelled = ImageTorchDataset(ArrayDataset(images, None, []), None, t)
    assert len(unlabelled) == 5 and unlabelled[3][1] == -1


def _two_levels(cfg: DataConfig) -> float:
    """Two grey levels after normalisation (a rounding tie in each of PIL's two passes)."""
    return 2.0 / 255 / min(cfg.std) + 1e-5


def test_batched_eval_transform_gives_the_per_image_pixels():
    from transferkit.data.transforms import BatchTransform

    rng = np.random.default_rng(3)
    for interp in ("bicubic", "bilinear"):
        for size, channels in ((32, 3), (20, 3), (40, 1)):
            cfg = DataConfig(
                input_size=(channels, size, size),
                mean=CFG.mean[:channels],
                std=CFG.std[:channels],
                interpolation=interp,
                crop_pct=0.875,
            )
            tf = build_transform(cfg, train=False)
            for shape in ((28, 28), (28, 24, 3), (16, 16, 1), (12, 12, 4)):
                if channels == 1 and len(shape) == 3 and shape[2] != 1:
                    continue
                images = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(5)]
                batched = tf.batch(images)
                assert batched is not None, (interp, size, shape)
                ref = torch.stack([tf(a) for a in images])
                assert batched.shape == ref.shape
                diff = (batched - ref).abs()
                assert diff.max() <= _two_levels(cfg), (interp, size, shape)
                # rounding only (PIL computes in fixed point): well under a level on average
                assert diff.mean() < 0.25 * _two_levels(cfg) / 2
                if interp == "bilinear" and size >= max(shape[:2]):  # enlarging: PIL's pixels
                    assert diff.max() < 1e-6, (size, shape)
                x, y = BatchTransform(tf)([(a, i) for i, a in enumerate(images)])
                assert torch.equal(x, batched) and y.tolist() == [0, 1, 2, 3, 4]


def test_batched_transform_declines_what_it_cannot_do_and_the_collate_falls_back():
    from transferkit.data.transforms import BatchTransform

    rng = np.random.default_rng(4)
    tf = build_transform(CFG, train=False)
    mixed = [
        rng.integers(0, 256, (28, 28), dtype=np.uint8),
        rng.integers(0, 256, (20, 20), dtype=np.uint8),
    ]
    large = [rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)] * 2
    floats = [rng.random((28, 28)) * 255] * 2
    assert tf.batch(mixed) is None and tf.batch(large) is None and tf.batch(floats) is None
    assert build_transform(CFG, train=True).batch(large[:1]) is None  # augmentation
    x, _ = BatchTransform(tf)([(mixed[1], 0), (mixed[1], 1)])
    assert torch.allclose(x[0], tf(mixed[1]))
    grey_cfg = DataConfig(input_size=(1, 32, 32), mean=(0.5,), std=(0.5,), crop_pct=0.875)
    colour = [rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)] * 2
    assert build_transform(grey_cfg, train=False).batch(colour) is None  # luma: per image
    x, _ = BatchTransform(build_transform(grey_cfg, train=False))([(colour[0], 0)])
    assert x.shape == (1, 1, 32, 32)
