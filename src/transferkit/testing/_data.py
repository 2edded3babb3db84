"""Tiny synthetic data the checks run on, written to a temporary folder: a few grey images in
classes that a small model can tell apart in a few steps, two image domains with a real shift
for adaptation, and feature matrices for transferability scores. Seeded: the same every call."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def band_images(root: Path, classes: int = 3, per_class: int = 12, size: int = 24) -> str:
    """A folder of ``per_class`` noisy grey PNGs per class (``root/<class>/<i>.png``); class
    ``k`` has a bright horizontal band in its own rows. Returns the folder, as ``fit`` takes it."""
    from PIL import Image

    rng = np.random.default_rng(0)
    band = size // classes
    for k in range(classes):
        folder = root / chr(ord("a") + k)
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size), dtype=np.uint8)
            img[k * band : (k + 1) * band, :] += 150
            Image.fromarray(img).save(folder / f"{i}.png")
    return str(root)


def strokes(
    n_per_class: int, seed: int, shifted: bool = False, classes: tuple[int, ...] = (0, 1, 2)
) -> tuple[np.ndarray, np.ndarray]:
    """8 x 8 uint8 images of three classes of strokes (horizontal, vertical, diagonal) and
    their labels; ``shifted``: dimmer, blurrier strokes on a brighter background (the target
    domain of an adaptation check); ``classes``: which of the three to draw."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in classes:
        for _ in range(n_per_class):
            img = np.zeros((8, 8))
            k = rng.integers(2, 6)
            if c == 0:
                img[k, 1:7] = 1.0
            elif c == 1:
                img[1:7, k] = 1.0
            else:
                img[np.arange(8), np.arange(8)] = 1.0
            if shifted:
                img = 0.6 * img + 0.3 + 0.15 * rng.random((8, 8))
                img = 0.5 * img + 0.25 * (np.roll(img, 1, 0) + np.roll(img, 1, 1))
            img = img + 0.1 * rng.random((8, 8))
            images.append(np.clip(img * 255, 0, 255).astype(np.uint8))
            labels.append(c)
    return np.stack(images), np.array(labels)


NAMES = np.array(["h", "v", "d"])


def domains(folder: Path, shuffle_target_labels: bool = False) -> tuple[str, str]:
    """``source.npz`` (20 labelled strokes per class) and ``target.npz`` (15 shifted ones per
    class, labelled; with ``shuffle_target_labels`` the same images with their labels
    permuted) in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = strokes(20, 0)
    xt, yt = strokes(15, 1, shifted=True)
    if shuffle_target_labels:
        yt = np.random.default_rng(5).permutation(yt)
    np.savez(folder / "source.npz", x=xs, y=NAMES[ys])
    np.savez(folder / "target.npz", x=xt, y=NAMES[yt])
    return str(folder / "source.npz"), str(folder / "target.npz")


def labelled_strokes(folder: Path) -> str:
    """``strokes.npz``: 20 labelled 8 x 8 strokes per class (to pretrain on); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y = strokes(20, 0)
    np.savez(folder / "strokes.npz", x=x, y=NAMES[y])
    return str(folder / "strokes.npz")


def scored_features(
    n: int = 120, dim: int = 16, classes: int = 3, sources: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features, labels, source_probs)``: float32 features whose class means stand apart
    (separable, with some overlap), balanced labels, and the probabilities of a random linear
    "source head" over ``sources`` classes computed from the features (so they carry the
    target classes too, as a useful source model's predictions do)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(classes), n // classes)
    means = rng.normal(size=(classes, dim)) * 0.7
    features = (means[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32)
    logits = features @ rng.normal(size=(dim, sources))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return features, labels, probs / probs.sum(axis=1, keepdims=True)
