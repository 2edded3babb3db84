"""Image inputs and preprocessing without PyTorch: the run's evaluation transform, again.

A run evaluates images with :class:`transferkit.data.transforms.ImageTransform` (``train=False``):
the image as a uint8 array, made a PIL image with the model's channels, then

* small sources (at most :data:`SMALL_IMAGE` pixels a side, digits): resized to the input size
  as a whole (a centre crop would cut strokes off);
* larger ones: timm's evaluation transform - the shorter side resized to ``input / crop_pct``
  (both sides kept in ratio for a non-square input), then a centre crop of the input size;

and ``ToTensor`` / ``Normalize``. Both resizes are PIL's, through torchvision, so doing them here
with PIL itself gives the same pixels. For batches of small images of one shape a run takes a
tensor fast path instead (:meth:`ImageTransform.batch`); :mod:`transferkit.runtime.resize`
repeats it in numpy, so the pixels match whichever path ``predict --run`` took.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from transferkit.errors import UserError
from transferkit.runtime.resize import batch_resize

SMALL_IMAGE = 64  # as transferkit.data.transforms: sources up to this size are never cropped
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
DEFAULT_CROP_PCT = 0.875  # timm's, used when a data config has none
_PIL_MODES = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "lanczos": Image.Resampling.LANCZOS,
}


def to_array(img: Image.Image) -> np.ndarray:
    """A decoded PIL image as uint8, as the run's readers make it: grey modes as (H, W),
    everything else RGB (H, W, 3); transparent images composited on white."""
    mode = img.mode
    if mode == "1":
        img, mode = img.convert("L"), "L"
    if mode == "L":
        return np.asarray(img, dtype=np.uint8)
    if mode in ("I", "F") or mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 255.0)
        return np.clip(np.rint(arr * (255.0 / top if top > 255 else 1.0)), 0, 255).astype(np.uint8)
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return np.asarray(white.convert("L" if mode in ("LA", "La") else "RGB"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def image_files(path: str | Path) -> list[Path]:
    """The image files of ``path``: the file itself, or every image under the folder at any
    depth (sorted, top-down, hidden names skipped: the order the run's folder reader lists a
    class's images in). A UserError when there is none."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise UserError(
                f"{path} is not an image file (it ends in {path.suffix or 'nothing'}); an image "
                f"model predicts files ending in {', '.join(sorted(IMAGE_EXTENSIONS))}."
            )
        return [path]
    if not path.is_dir():
        raise UserError(f"The input {path} does not exist. Give an image or a folder of images.")
    files = []
    for folder, subdirs, names in os.walk(path):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(n for n in names if not n.startswith(".")):
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                files.append(Path(folder) / name)
    if not files:
        raise UserError(
            f"No images in {path} (files ending in {', '.join(sorted(IMAGE_EXTENSIONS))}, at "
            "any depth). Check the folder."
        )
    return files


def read_image(path: str | Path) -> np.ndarray:
    """One image file, fully decoded (see :func:`to_array`); a UserError naming the file when
    it is missing or not a readable image."""
    try:
        with Image.open(path) as img:
            img.load()
            return to_array(img)
    except FileNotFoundError:
        raise UserError(
            f"The image {path} does not exist. Check the path (an image model takes image "
            "files, PIL images or arrays, not texts)."
        ) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserError(
            f"The image {path} cannot be read ({type(e).__name__}: {' '.join(str(e).split())}). "
            "Replace it with a valid image file (PNG, JPEG, ...) or leave it out."
        ) from None


def as_image(item: Any, index: int) -> np.ndarray:
    """One input as a uint8 array: a file path, a PIL image, or an (H, W) / (H, W, C) array
    with C in 1, 3, 4 (other dtypes rounded and clipped to 0..255, as the run does)."""
    if isinstance(item, (str, Path)):
        return read_image(item)
    if isinstance(item, Image.Image):
        return to_array(item)
    if isinstance(item, np.ndarray):
        if item.ndim == 2 or (item.ndim == 3 and item.shape[2] in (1, 3, 4)):
            if item.dtype != np.uint8:
                if not np.issubdtype(item.dtype, np.number):
                    raise UserError(f"Input {index} is an array of {item.dtype}, not of numbers.")
                item = np.clip(np.rint(item), 0, 255).astype(np.uint8)
            return item
        raise UserError(
            f"Input {index} is an array of shape {item.shape}; an image is (H, W) or (H, W, C) "
            "with 1, 3 or 4 channels, values 0..255."
        )
    raise UserError(
        f"Input {index} is a {type(item).__name__}; an image model takes file paths, PIL images "
        "or uint8 arrays (H, W[, C])."
    )


def _stats(values: Any, channels: int) -> np.ndarray:
    """Mean or std with one value per channel (averaged for grey, repeated for colour)."""
    values = [float(v) for v in values]
    if len(values) != channels:
        if channels == 1:
            values = [sum(values) / len(values)]
        else:
            values = values * channels if len(values) == 1 else values[:channels]
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


class ImagePreprocessing:
    """The ``preprocessing`` block of an export's config.json as a function: uint8 arrays ->
    normalised float32 (N, C, H, W), the run's evaluation transform pixel for pixel."""

    def __init__(self, prep: dict[str, Any]) -> None:
        self.channels, height, width = (int(v) for v in prep["input_size"])
        self.size = (height, width)
        self.interpolation = str(prep.get("interpolation") or "bilinear")
        if self.interpolation not in _PIL_MODES:
            raise UserError(
                f"The export's interpolation {self.interpolation!r} is not one of "
                f"{', '.join(_PIL_MODES)}. Export the run again with this transferkit."
            )
        self.crop_pct = float(prep.get("crop_pct") or DEFAULT_CROP_PCT)
        self.small = int(prep.get("small_image") or SMALL_IMAGE)
        self.mean = _stats(prep["mean"], self.channels)
        self.std = _stats(prep["std"], self.channels)

    def to_pil(self, image: np.ndarray) -> Image.Image:
        """A uint8 array as a PIL image with the model's channels (``to_pil`` of the run)."""
        arr = image
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        elif arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        img = Image.fromarray(np.ascontiguousarray(arr))
        want = "L" if self.channels == 1 else "RGB"
        return img if img.mode == want else img.convert(want)

    def resized(self, img: Image.Image) -> Image.Image:
        """The PIL image resized (and for larger ones centre-cropped) to the input size."""
        mode = _PIL_MODES[self.interpolation]
        height, width = self.size
        if max(img.size) <= self.small:
            return img.resize((width, height), mode)
        w, h = img.size
        if height == width:  # torchvision Resize(int): the shorter side, the longer truncated
            short = math.floor(height / self.crop_pct)
            new = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
        else:  # timm's ResizeKeepRatio: both sides by the smaller ratio, rounded
            sh, sw = math.floor(height / self.crop_pct), math.floor(width / self.crop_pct)
            ratio = min(h / sh, w / sw)
            new = (round(w / ratio), round(h / ratio))
        if new != (w, h):
            img = img.resize(new, mode)
        return _center_crop(img, height, width)

    def one(self, image: np.ndarray) -> np.ndarray:
        """One uint8 image -> normalised float32 (C, H, W) through PIL (the per-image path)."""
        arr = np.asarray(self.resized(self.to_pil(image)), dtype=np.float32)
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        return (arr / np.float32(255.0) - self.mean) / self.std

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """A batch: the run's tensor fast path where it would take it, else image by image."""
        fast = batch_resize(images, self.size, self.interpolation, self.channels, self.small)
        if fast is not None:
            return (fast / np.float32(255.0) - self.mean) / self.std
        return np.stack([self.one(a) for a in images]).astype(np.float32, copy=False)


def _center_crop(img: Image.Image, height: int, width: int) -> Image.Image:
    """torchvision's CenterCrop on a PIL image: zero padding first where the image is smaller
    than the crop, then the offsets rounded as Python rounds."""
    w, h = img.size
    if width > w or height > h:
        left, top = max(width - w, 0) // 2, max(height - h, 0) // 2
        right, bottom = max(width - w + 1, 0) // 2, max(height - h + 1, 0) // 2
        padded = Image.new(img.mode, (w + left + right, h + top + bottom), 0)
        padded.paste(img, (left, top))
        img, (w, h) = padded, padded.size
        if (w, h) == (width, height):
            return img
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return img.crop((left, top, left + width, top + height))
