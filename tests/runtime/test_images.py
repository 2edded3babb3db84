"""The runtime's image preprocessing against the run's evaluation transform
(``build_transform(data_config, train=False)``) on real images: UCI digits (8 x 8), Fashion-MNIST
(28 x 28) and non-square colour JPEG / PNG files (RGB, RGBA, palette, grey with alpha) written
from real arrays.

Tolerances: where both sides resize with PIL (every image the run transforms one at a time) the
pixels are the same, so only float32 rounding of the normalisation remains (1e-5). Where the
run takes its tensor fast path (batches of small images) with bicubic, both sides compute PIL's
two-pass resize in floating point and round each pass to uint8; a value within float error of
.5 may round the other way, one grey level, (1/255)/std after normalisation. torch sums the
taps in float32 (its values are up to 2.5e-4 from the exact sums, measured), so shrinking by
ratios with exact .5 sums (28 -> 20) flips a few: such values must be at most 1 in 10^3 (5 in
10^4 were found on Fashion-MNIST at 20 px, none at 32 px). With bilinear the run's fast path is
torch's fixed-point resize, which is not always PIL's (see the bilinear test).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from transferkit.data import load_dataset
from transferkit.data.readers import decode_image
from transferkit.data.transforms import BatchTransform, build_transform
from transferkit.errors import UserError
from transferkit.runtime.images import ImagePreprocessing, as_image, read_image
from transferkit.zoo.base import DataConfig

IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
GREY = dict(mean=(0.5,), std=(0.5,))


def _pair(channels, height, width, interpolation="bicubic", crop_pct=0.875, stats=IMAGENET):
    dc = DataConfig(
        input_size=(channels, height, width),
        interpolation=interpolation,
        crop_pct=crop_pct,
        **stats,
    )
    prep = {
        "input_size": list(dc.input_size),
        "mean": list(dc.mean),
        "std": list(dc.std),
        "interpolation": interpolation,
        "crop_pct": crop_pct,
    }
    return build_transform(dc, train=False), ImagePreprocessing(prep)


@pytest.fixture(scope="module")
def digits() -> list[np.ndarray]:
    ds = load_dataset("builtin:digits")
    return [ds.load(i) for i in range(0, 1797, 23)]  # 79 images, all classes


@pytest.fixture(scope="module")
def fashion() -> list[np.ndarray]:
    ds = load_dataset("builtin:fashion-mnist")
    return [ds.load(i) for i in range(0, 60000, 997)][:48]


def _mismatch(ours: np.ndarray, theirs: torch.Tensor) -> tuple[float, float]:
    """(max |difference|, the fraction of values further apart than float rounding)."""
    diff = np.abs(ours - theirs.numpy())
    return float(diff.max()), float((diff > 1e-4).mean())


@pytest.mark.parametrize("channels,size", [(1, 32), (3, 32), (3, 20), (1, 12)])
def test_small_bicubic_batches_match_the_runs_batch_path(digits, fashion, channels, size):
    """Digits and Fashion-MNIST batches, bicubic (the zoo's interpolation): the run's tensor
    fast path (what predict --run takes for them) and the runtime's numpy copy of it agree;
    each image also matches the run's per-image PIL path."""
    stats = GREY if channels == 1 else IMAGENET
    transform, prep = _pair(channels, size, size, "bicubic", stats=stats)
    level = 1 / 255 / min(stats["std"])  # one grey level after normalisation
    for images in (digits, fashion):
        theirs = BatchTransform(transform)([(a, 0) for a in images])[0]
        ours = prep(images)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float32
        worst, rate = _mismatch(ours, theirs)
        assert rate <= 1e-3 and worst <= 1.01 * level, (worst, rate)
        for a in images[:12]:  # the per-image path: PIL on both sides
            np.testing.assert_allclose(prep.one(a), transform(a).numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("channels,size", [(3, 20), (1, 24), (3, 14), (1, 32)])
def test_small_bilinear_batches_are_the_runs_pil_path(digits, fashion, channels, size):
    """Bilinear: the runtime resizes with PIL, the run's per-image path, exactly. The run's
    batch path (torch's uint8 antialiased resize) is PIL's at most sizes but one grey level off
    on up to 3% of the pixels at some ratios (28 -> 20, 8 -> 14): the run's two paths disagree
    by that much themselves, so that is the bound against the batch path."""
    stats = GREY if channels == 1 else IMAGENET
    transform, prep = _pair(channels, size, size, "bilinear", stats=stats)
    level = 1 / 255 / min(stats["std"])
    for images in (digits, fashion):
        ours = prep(images)
        per_image = np.stack([transform(a).numpy() for a in images])
        np.testing.assert_allclose(ours, per_image, atol=1e-5, rtol=0)
        theirs = BatchTransform(transform)([(a, 0) for a in images])[0]
        worst, rate = _mismatch(ours, theirs)
        assert worst <= 1.01 * level and rate <= 0.05, (worst, rate)


def _real_colour(fashion: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """A non-square RGB picture from three real Fashion-MNIST images, one per channel."""
    rgb = np.stack(fashion[:3], axis=-1)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


def _write_files(tmp_path, fashion) -> list:
    rgb = _real_colour(fashion, 131, 97)
    files = []
    for name, img in [
        ("wide.jpg", Image.fromarray(rgb)),
        ("tall.png", Image.fromarray(_real_colour(fashion[3:], 70, 151))),
        (
            "alpha.png",
            Image.fromarray(np.dstack([rgb, _real_colour(fashion[5:], 131, 97)[..., 0]])),
        ),
        ("palette.png", Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)),
        ("grey_alpha.png", Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]]), "LA")),
        ("grey.jpg", Image.fromarray(rgb[..., 2])),
        ("small.png", Image.fromarray(rgb[:40, :50])),
    ]:
        img.save(tmp_path / name)
        files.append(tmp_path / name)
    return files


@pytest.mark.parametrize(
    "channels,height,width,interp,crop_pct",
    [
        (3, 64, 64, "bicubic", 0.875),
        (3, 48, 40, "bilinear", 0.9),  # non-square input: timm's ResizeKeepRatio
        (1, 56, 56, "bicubic", 1.0),  # a grey model: PIL's luma conversion of colour files
        (3, 33, 33, "nearest", 0.95),
    ],
)
def test_image_files_match_the_eval_transform(
    tmp_path, fashion, channels, height, width, interp, crop_pct
):
    """Decoding (the run's readers) and the eval transform, file by file and as a batch."""
    files = _write_files(tmp_path, fashion)
    stats = GREY if channels == 1 else IMAGENET
    transform, prep = _pair(channels, height, width, interp, crop_pct, stats)
    decoded = []
    for f in files:
        ours_arr, theirs_arr = read_image(f), decode_image(str(f))
        np.testing.assert_array_equal(ours_arr, theirs_arr)
        decoded.append(theirs_arr)
        np.testing.assert_allclose(
            prep.one(ours_arr), transform(theirs_arr).numpy(), atol=1e-5, rtol=0
        )
    batch = prep(decoded)  # images of different shapes: image by image, as the run
    theirs = BatchTransform(transform)([(a, 0) for a in decoded])[0]
    np.testing.assert_allclose(batch, theirs.numpy(), atol=1e-5, rtol=0)


def test_other_inputs_are_the_same_image(fashion):
    """A PIL image, a uint8 array, an RGBA array and a float array are read as the run reads
    them; something that is not an image is refused by name."""
    rgb = _real_colour(fashion, 90, 70)
    transform, prep = _pair(3, 32, 32)
    want = transform(rgb).numpy()
    for item in (rgb, Image.fromarray(rgb), np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])):
        np.testing.assert_allclose(prep.one(as_image(item, 0)), want, atol=1e-5, rtol=0)
    floats = rgb.astype(np.float64) + 0.2
    np.testing.assert_array_equal(as_image(floats, 0), rgb)
    with pytest.raises(UserError, match="shape"):
        as_image(np.zeros((4, 5, 7)), 3)
    with pytest.raises(UserError, match="dict"):
        as_image({"a": 1}, 0)


def test_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(UserError, match="broken.jpg cannot be read"):
        read_image(bad)
    with pytest.raises(UserError, match="missing.png does not exist"):
        read_image(tmp_path / "missing.png")
