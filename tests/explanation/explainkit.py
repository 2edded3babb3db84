"""Helpers for the explain tests: a synthetic image set with a planted discriminative patch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32
PATCH = 6


def patch_image(rng: np.random.Generator, with_patch: bool) -> tuple[np.ndarray, tuple | None]:
    """A 32 px grey noise image; with a bright 6 px square at a random place (returned as
    (top, left)) when ``with_patch``."""
    img = rng.integers(0, 90, (SIZE, SIZE), dtype=np.uint8)
    if not with_patch:
        return img, None
    top, left = (int(v) for v in rng.integers(2, SIZE - PATCH - 2, 2))
    img[top : top + PATCH, left : left + PATCH] = 255
    return img, (top, left)


def write_planted(
    root: Path, n_per_class: int = 60, probes: int = 16, seed: int = 0
) -> tuple[Path, Path, dict[str, tuple]]:
    """``root/train/{patch,plain}/*.png`` to fit on, ``root/probe/*.png`` (patch images only)
    to explain, and the patch place of every probe image by file name."""
    rng = np.random.default_rng(seed)
    for cls in ("patch", "plain"):
        (root / "train" / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img, _ = patch_image(rng, cls == "patch")
            Image.fromarray(img).save(root / "train" / cls / f"{i:03d}.png")
    (root / "probe").mkdir(parents=True, exist_ok=True)
    places = {}
    for i in range(probes):
        img, where = patch_image(rng, True)
        Image.fromarray(img).save(root / "probe" / f"p{i:02d}.png")
        places[f"p{i:02d}.png"] = where
    return root / "train", root / "probe", places


def in_patch(heat: np.ndarray, where: tuple, margin: int = 3) -> bool:
    """Whether the peak of ``heat`` (at the model's input size) lies on the patch, give or
    take ``margin`` pixels (the last feature map of tiny-cnn has 4 px cells at 32 px)."""
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    scale = heat.shape[0] / SIZE
    top, left = where[0] * scale, where[1] * scale
    side = PATCH * scale
    return (top - margin <= y < top + side + margin) and (left - margin <= x < left + side + margin)
