"""Seeded, stratified train / validation / test splits, built for fair comparisons.

Three properties matter more than the exact proportions:

* the test set depends only on the dataset and the seed, never on ``labels_per_class``, so
  strategies and label budgets compared with one seed are scored on the same test examples;
* the labelled examples for a budget of N per class are the first N of one seeded permutation
  per class, so larger budgets contain smaller ones (nested data-efficiency curves);
* the budget N covers train *and* validation (honest few-shot: no extra labels for tuning).

A dataset's own splits (``dataset.predefined``: ``"train"`` / ``"val"`` / ``"test"`` per example)
are honoured: its test split is the test set; its validation split is the validation set when
all labels are used. A label budget (``labels_per_class``) is drawn from its training and
validation examples together, as the budget covers both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.data.base import Dataset
from transferkit.errors import UserError

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def split_name(name: str) -> str | None:
    """``"train"``, ``"val"`` or ``"test"`` for a split folder or a ``split`` column value
    (``train``, ``val`` / ``valid`` / ``validation``, ``test``; any case); None otherwise."""
    return SPLIT_NAMES.get(str(name).strip().lower())


@dataclass
class Splits:
    """int64 indices into a dataset; the three arrays are disjoint and sorted."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent generators per purpose, so drawing one never shifts another."""
    return np.random.default_rng([int(seed) % 2**63, stream])


def _name(classes: list[str] | None, c: int) -> str:
    return repr(classes[c]) if classes and c < len(classes) else repr(c)


def check_labels(
    labels: np.ndarray | None, classes: list[str] | None = None, what: str = "The dataset"
) -> None:
    """UserError unless there are labels, at least two classes, and no single-example class."""
    if labels is None:
        raise UserError(
            f"{what} has no labels, but this needs labelled data. Use a folder with one "
            "sub-folder per class, or a manifest/array file with a label column."
        )
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes or []))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        only = f" (only class {_name(classes, int(present[0]))})" if len(present) else ""
        raise UserError(
            f"{what} has a single class{only}; classification needs at least two. Add examples "
            "of the other classes (one sub-folder per class, or more distinct labels)."
        )
    single = np.flatnonzero(counts == 1)
    if len(single):
        names = ", ".join(_name(classes, int(c)) for c in single[:5])
        raise UserError(
            f"{what} has a single example of class {names}; one example cannot be split into "
            "train and validation. Add at least one more example of it, or remove the class."
        )


def _allocate(counts: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest remainder), within bounds."""
    counts = np.asarray(counts, dtype=np.float64)
    quota = counts * total / counts.sum() if counts.sum() else np.zeros_like(counts)
    alloc = np.clip(np.floor(quota), lo, hi).astype(np.int64)
    while alloc.sum() < total and np.any(alloc < hi):  # add where furthest below its quota
        alloc[np.argmax(np.where(alloc < hi, quota - alloc, -np.inf))] += 1
    while alloc.sum() > total and np.any(alloc > lo):  # remove where furthest above it
        alloc[np.argmax(np.where(alloc > lo, alloc - quota, -np.inf))] -= 1
    return alloc


def _by_class(
    indices: np.ndarray, labels: np.ndarray, rng: np.random.Generator, k: int
) -> list[np.ndarray]:
    """Per class, ``indices`` of that class in a seeded random order."""
    return [rng.permutation(indices[labels[indices] == c]) for c in range(k)]


def _pick(groups: list[np.ndarray], quotas: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [g[:q] for g, q in zip(groups, quotas, strict=True)] + [np.empty(0, np.int64)]
    )


def _round(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _test_split(
    labels: np.ndarray,
    predefined: np.ndarray | None,
    k: int,
    seed: int,
    test_fraction: float,
    max_test: int | None,
) -> np.ndarray:
    """The test indices: the official test split (subsampled to max_test) or a stratified part."""
    rng = _rng(seed, 0)
    if predefined is not None and np.any(predefined == "test"):
        candidates = np.flatnonzero(predefined == "test")
        counts = np.bincount(labels[candidates], minlength=k)
        total = len(candidates)
        lo, hi = np.zeros(k, np.int64), counts
    else:
        candidates = np.arange(len(labels))
        counts = np.bincount(labels, minlength=k)
        total = int(_round(len(labels) * test_fraction))
        hi = np.maximum(counts - 2, 0)  # keep two of every class for train and validation
        lo = ((counts >= 3) & (test_fraction > 0)).astype(np.int64)
    if max_test is not None:
        total = min(total, max_test)
    if lo.sum() > total:
        lo = np.zeros(k, np.int64)
    quotas = _allocate(counts, total, lo, hi)
    return _pick(_by_class(candidates, labels, rng, k), quotas)


def _check_arguments(
    labels_per_class: int | None, val_fraction: float, test_fraction: float, max_test: int | None
) -> None:
    for value, label in ((val_fraction, "val_fraction"), (test_fraction, "test_fraction")):
        if not 0.0 <= value < 1.0:
            raise UserError(f"{label} must be at least 0 and below 1, got {value}.")
    if max_test is not None and max_test < 1:
        raise UserError(f"max_test must be a positive number of examples, got {max_test}.")
    if labels_per_class is not None and labels_per_class < 1:
        raise UserError(f"labels_per_class must be at least 1, got {labels_per_class}.")


def make_splits(
    dataset: Dataset,
    *,
    seed: int,
    labels_per_class: int | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    max_test: int | None = None,
) -> Splits:
    """Train / validation / test indices for ``dataset`` (see the module docstring for why).

    Test: the predefined ``'test'`` examples (stratified subsample down to ``max_test``), else a
    stratified ``test_fraction`` (also capped at ``max_test``). From the rest, ``labels_per_class``
    examples per class (all when None); of those, a stratified ``val_fraction`` (at least one per
    class that has two or more) is validation and the remainder is train - except that with all
    labels and a predefined ``'val'`` split, that split is the validation set.
    """
    _check_arguments(labels_per_class, val_fraction, test_fraction, max_test)
    check_labels(dataset.labels, dataset.classes, f"The dataset {dataset.name!r}")
    labels = np.asarray(dataset.labels, dtype=np.int64)
    k = max(len(dataset.classes), int(labels.max()) + 1)

    predefined = None if dataset.predefined is None else np.asarray(dataset.predefined)
    test = _test_split(labels, predefined, k, seed, test_fraction, max_test)
    in_test = np.zeros(len(labels), dtype=bool)
    in_test[test] = True
    if predefined is not None:
        in_test |= predefined == "test"  # official test items left out by max_test stay out
    groups = _by_class(np.flatnonzero(~in_test), labels, _rng(seed, 1), k)
    sizes = np.array([len(g) for g in groups])
    if labels_per_class is None and predefined is not None and np.any(predefined == "val"):
        own_val = ~in_test & (predefined == "val")
        train = np.flatnonzero(~in_test & ~own_val)
        return Splits(
            train.astype(np.int64),
            np.flatnonzero(own_val).astype(np.int64),
            np.sort(test).astype(np.int64),
        )

    if labels_per_class is not None:
        short = [c for c in range(k) if 0 < sizes[c] < labels_per_class]
        if short:
            c = min(short, key=lambda c: sizes[c])
            largest = int(sizes[sizes > 0].min())
            raise UserError(
                f"labels_per_class={labels_per_class}, but class {_name(dataset.classes, c)} has "
                f"only {sizes[c]} examples left for training and validation after the test set "
                f"is set aside. Use labels_per_class <= {largest}, or omit it to use all labels."
            )
        groups = [g[:labels_per_class] for g in groups]
        sizes = np.array([len(g) for g in groups])
    n_val = np.clip(_round(sizes * val_fraction), 1 if val_fraction > 0 else 0, None)
    n_val = np.where(sizes >= 2, np.minimum(n_val, sizes - 1), 0)
    val = _pick(groups, n_val)
    train = np.concatenate(
        [g[v:] for g, v in zip(groups, n_val, strict=True)] + [np.empty(0, np.int64)]
    )
    return Splits(*(np.sort(a).astype(np.int64) for a in (train, val, test)))


def stratified_kfold(
    labels: np.ndarray, k: int, seed: int, classes: list[str] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` seeded stratified folds as ``(train_idx, test_idx)`` pairs (scikit-learn's)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels, dtype=np.int64)
    if k < 2:
        raise UserError(f"Cross-validation needs at least 2 folds, got k={k}.")
    counts = np.bincount(labels)
    present = np.flatnonzero(counts)
    smallest = int(present[np.argmin(counts[present])])
    if k > counts[smallest]:
        raise UserError(
            f"Cannot make {k} stratified folds: class {_name(classes, smallest)} has only "
            f"{counts[smallest]} examples, and every fold needs one of each class. Use "
            f"k <= {counts[smallest]}, or add examples of that class."
        )
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(seed) % 2**32)
    return [
        (tr.astype(np.int64), te.astype(np.int64))
        for tr, te in folds.split(np.zeros(len(labels)), labels)
    ]
