"""Two tiny image domains with a real shift, saved as .npz files (shared by the tests here).

Three classes of 8x8 strokes (horizontal, vertical, diagonal). The source is bright strokes on
dark; the target is dimmer, blurrier strokes on a brighter, noisier background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from transferkit.testing._data import strokes as _strokes


def strokes(n_per_class: int, seed: int, target: bool = False, classes=(0, 1, 2)):
    """The strokes :mod:`transferkit.testing` checks adaptation on; ``target``: the shifted
    domain."""
    return _strokes(n_per_class, seed, shifted=target, classes=tuple(classes))


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
