"""Two tiny image domains with a real shift, saved as .npz files (shared by the tests here).

Three classes of 8x8 strokes (horizontal, vertical, diagonal). The source is bright strokes on
dark; the target is dimmer, blurrier strokes on a brighter, noisier background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


def strokes(n_per_class: int, seed: int, target: bool = False, classes=(0, 1, 2)):
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
            if target:
                img = 0.6 * img + 0.3 + 0.15 * rng.random((8, 8))
                img = 0.5 * img + 0.25 * (np.roll(img, 1, 0) + np.roll(img, 1, 1))
            img = img + 0.1 * rng.random((8, 8))
            images.append(np.clip(img * 255, 0, 255).astype(np.uint8))
            labels.append(c)
    return np.stack(images), np.array(labels)


def write_domains(
    folder: Path,
    *,
    n_source: int = 20,
    n_target: int = 15,
    target_labels: bool = True,
    shuffle_target_labels: int | None = None,
    target_classes=(0, 1, 2),
) -> tuple[str, str]:
    """``source.npz`` and ``target.npz`` in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = strokes(n_source, 0)
    xt, yt = strokes(n_target, 1, target=True, classes=target_classes)
    if shuffle_target_labels is not None:
        yt = np.random.default_rng(shuffle_target_labels).permutation(yt)
    names = np.array(["h", "v", "d"])
    np.savez(folder / "source.npz", x=xs, y=names[ys])
    if target_labels:
        np.savez(folder / "target.npz", x=xt, y=names[yt])
    else:
        np.savez(folder / "target.npz", x=xt)
    return str(folder / "source.npz"), str(folder / "target.npz")


SMALL = dict(
    model="tiny-cnn",
    image_size=8,
    batch_size=8,
    epochs=1,
    hidden=16,
    selection_examples=24,
    embed_points=0,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread for these tiny models (import it into a test module to use it): on a
    busy 2-core machine, intra-op threads wait on each other longer than 8x8 convolutions take."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
