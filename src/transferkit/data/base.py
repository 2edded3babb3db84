"""The dataset contract every reader returns.

A :class:`Dataset` is an indexed collection of examples with integer labels (or none, for
unlabelled data), class names, a content fingerprint, and the list of inputs that were skipped
as unreadable. Images are decoded lazily by ``load(i)``; nothing assumes the decoded dataset fits
in memory. Readers live in ``data/readers.py`` and ``data/builtin.py``; ``data.load_dataset``
turns a ``--data`` string into a Dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def one_line(error: BaseException | str) -> str:
    """A library's error text on one line (some, e.g. pyarrow's, span several), for messages."""
    return " ".join(str(error).split())


def modality_problem(modality: str, dataset: Dataset, model: str = "The model") -> str:
    """Why a model of ``modality`` cannot take ``dataset`` ('' when it can)."""
    if modality == dataset.modality:
        return ""
    hint = (
        "a text model such as minilm-l6 or hf:PATH"
        if dataset.modality == "text"
        else "an image model (see `transferkit zoo`)"
    )
    return (
        f"{model} is a {modality} model but {dataset.name} holds {dataset.modality} data; "
        f"pick {hint}."
    )


@dataclass
class Skipped:
    """One input that could not be used, and why."""

    item: str
    reason: str


class Dataset:
    """Base class: subclasses implement ``__len__`` and ``load``.

    Attributes
    ----------
    name: a short human name (``fashion-mnist``, the folder name, ...).
    modality: ``"image"`` (``"text"`` later).
    labels: int64 array of shape (N,), or ``None`` for unlabelled data.
    classes: class names; ``labels`` index into it.
    fingerprint: a hex digest of the content, stable across runs, for caches and the store.
    skipped: inputs that were dropped (corrupt image, missing file), listed in the run.
    hflip_safe: whether a horizontal flip keeps the label (False for digits and text).
    predefined: optional array of ``"train"`` / ``"val"`` / ``"test"`` per example, for datasets
        that come with their own splits (split folders, a ``split`` column, official test sets);
        ``make_splits`` honours it.
    """

    name: str = "dataset"
    modality: str = "image"
    labels: np.ndarray | None = None
    classes: list[str]
    fingerprint: str = ""
    skipped: list[Skipped]
    hflip_safe: bool = True
    predefined: np.ndarray | None = None

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        """Example ``i`` as a uint8 array of shape (H, W) or (H, W, C)."""
        raise NotImplementedError

    def item_name(self, i: int) -> str:
        """A name for example ``i`` in predictions (a file path, or the index)."""
        return str(i)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> dict[str, int]:
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts, strict=True)}

    def summary(self) -> dict:
        return {
            "name": self.name,
            "modality": self.modality,
            "size": len(self),
            "classes": list(self.classes),
            "fingerprint": self.fingerprint,
            "skipped": len(self.skipped),
        }


@dataclass
class ArrayDataset(Dataset):
    """Images held as one uint8 array (N, H, W) or (N, H, W, C); for idx, npz and built-ins."""

    images: np.ndarray
    labels: np.ndarray | None = field()
    classes: list[str] = field()
    name: str = "arrays"
    fingerprint: str = ""
    skipped: list[Skipped] = field(default_factory=list)
    hflip_safe: bool = True
    predefined: np.ndarray | None = None
    modality: str = "image"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def load(self, i: int) -> np.ndarray:
        return self.images[i]
