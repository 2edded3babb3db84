"""The contract every transferability score honours, and the input checks they share.

A score predicts how well a source model will transfer to a labelled target task from one
forward pass: the target examples' features under the source backbone (N, D), their labels (N,)
and, for scores that need it, the source head's class probabilities (N, C_source). Higher is
better for every score, so one ranking rule fits all of them.

Scores register themselves by name in :data:`SCORES` (``SCORES.get("logme")().score(...)``).
Constructors only store parameters; ``score`` validates its inputs first and raises a
:class:`~transferkit.errors.UserError` naming the problem (NaN features, one class, mismatched
lengths), so a bad input never turns into a silent NaN or a numpy traceback.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from transferkit.errors import UserError
from transferkit.registry import Registry


class Score:
    """Base class: subclasses set ``needs_source`` and implement ``_score``; the registry sets
    ``name``. ``options``: a dataclass of the score's own settings (its constructor's
    arguments), or None. ``order_free``: the score's value does not depend on the order of
    the examples (False where a seeded draw over the examples is part of its definition)."""

    name: str = ""
    needs_source: bool = False
    order_free: bool = True
    options: type | None = None

    def score(
        self, features: np.ndarray, labels: np.ndarray, source_probs: np.ndarray | None = None
    ) -> float:
        """The score of these features for these labels (higher: better transfer expected)."""
        inputs = prepare(
            features, labels, source_probs, needs_source=self.needs_source, what=self.name
        )
        return float(self._score(inputs))

    def _score(self, inputs: Inputs) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


SCORES: Registry[type[Score]] = Registry(
    "transferability score", package="transferkit.transferability"
)


@dataclass
class Inputs:
    """Checked inputs: features without constant columns, labels 0..K-1.

    ``raw`` holds the features in their input float dtype (float32 as backbones produce them:
    half the memory, and single-precision BLAS where a score can afford it); ``features`` is
    the float64 copy most scores compute with, made on first use. ``classes`` holds the
    original label values in the order of the new ones; ``dropped`` the indices of the
    constant feature columns that were removed (they carry no information about the labels,
    and would make covariance matrices singular).
    """

    raw: np.ndarray
    labels: np.ndarray
    num_classes: int
    classes: np.ndarray
    source_probs: np.ndarray | None
    dropped: np.ndarray

    @functools.cached_property
    def features(self) -> np.ndarray:
        """(N, D) float64 features."""
        return self.raw.astype(np.float64, copy=False)

    @property
    def onehot(self) -> np.ndarray:
        """(N, K) one-hot float64 matrix of the labels."""
        y = np.zeros((len(self.labels), self.num_classes))
        y[np.arange(len(self.labels)), self.labels] = 1.0
        return y


def _bad_rows(x: np.ndarray) -> str:
    rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return f"{len(rows)} of {len(x)} rows (row {shown})"


def _check_arrays(x: np.ndarray, y: np.ndarray, what: str) -> None:
    """Features (N, D) of finite numbers and labels (N,) of finite values, row for row."""
    if x.ndim != 2:
        raise UserError(
            f"{what}: features must be a 2-D array (examples x dimensions), got shape {x.shape}."
        )
    if y.ndim != 1:
        raise UserError(f"{what}: labels must be a 1-D array, got shape {y.shape}.")
    if len(x) != len(y):
        raise UserError(
            f"{what}: {len(x)} feature rows but {len(y)} labels; they must be the "
            "same examples in the same order."
        )
    if x.shape[1] == 0:
        raise UserError(f"{what}: the features have no columns.")
    if x.dtype.kind not in "fiub":
        raise UserError(f"{what}: features must be numbers, got dtype {x.dtype}.")
    # a column sums to a finite value when all its entries are finite (one cheap pass); only
    # a sum that is not (a NaN, or an overflow of large values) scans element by element
    if x.dtype.kind == "f" and not np.isfinite(x.sum(axis=0)).all() and not np.isfinite(x).all():
        kind = "NaN" if np.isnan(x).any() else "infinite values"
        raise UserError(
            f"{what}: the features contain {kind} in {_bad_rows(x)}. The backbone "
            "produced invalid outputs for these inputs; check the images and the "
            "preprocessing, or drop those examples."
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise UserError(f"{what}: the labels contain NaN or infinite values.")


def _encode_labels(y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The distinct label values and the labels as 0..K-1; at least two classes, and more
    examples than classes."""
    classes, codes = np.unique(y, return_inverse=True)
    k = len(classes)
    if k < 2:
        raise UserError(
            f"{what}: the labels hold a single class ({classes[0]!r} if any); "
            "transferability needs at least two classes."
        )
    if len(codes) <= k:
        raise UserError(
            f"{what}: {len(codes)} examples for {k} classes; a score needs more "
            "examples than classes (at least two of some class). Use more examples "
            "(a larger --max-examples or --labels-per-class)."
        )
    return classes, codes


def _informative_columns(x: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` without its constant columns, as floats, and the mask of the columns dropped."""
    constant = np.ptp(x, axis=0) == 0
    if constant.all():
        raise UserError(
            f"{what}: every feature column is constant, so the features carry no "
            "information; the backbone is probably broken for this input size."
        )
    if constant.any():
        x = x[:, ~constant]
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    return x, constant


def prepare(
    features: np.ndarray,
    labels: np.ndarray,
    source_probs: np.ndarray | None = None,
    *,
    needs_source: bool = False,
    what: str = "transferability score",
) -> Inputs:
    """Validate and normalise a score's inputs; UserError for anything a score cannot use."""
    x = np.asarray(features)
    y = np.asarray(labels)
    _check_arrays(x, y, what)
    classes, y = _encode_labels(y, what)
    x, constant = _informative_columns(x, what)
    probs = None
    if needs_source:
        probs = _check_source(source_probs, len(y), what)
    return Inputs(x, y.astype(np.int64), len(classes), classes, probs, np.flatnonzero(constant))


def _check_source(p: np.ndarray | None, n: int, what: str) -> np.ndarray:
    """Source-head probabilities (N, C) with rows on the simplex, or hard labels (N,)."""
    if p is None:
        raise UserError(
            f"{what} needs the source head's predictions (source_probs), but none "
            "were given; use a backbone that keeps its source classifier."
        )
    p = np.asarray(p)
    if len(p) != n:
        raise UserError(f"{what}: {len(p)} rows of source predictions for {n} examples.")
    if p.ndim == 1:
        if p.dtype.kind not in "iu" or (p < 0).any():
            raise UserError(
                f"{what}: 1-D source predictions must be non-negative integer class indices."
            )
        return p.astype(np.int64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise UserError(
            f"{what}: source predictions must be (N, C) probabilities, got shape {p.shape}."
        )
    p = p.astype(np.float64, copy=False)
    if not np.isfinite(p).all():
        raise UserError(
            f"{what}: the source predictions contain NaN or infinite values in {_bad_rows(p)}."
        )
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise UserError(
            f"{what}: source predictions must be probabilities (non-negative rows "
            "summing to 1); apply a softmax to the source head's logits first."
        )
    return p / p.sum(axis=1, keepdims=True)


def compute_score(
    name: str,
    features: np.ndarray,
    labels: np.ndarray,
    source_probs: np.ndarray | None = None,
    **params: object,
) -> float:
    """Shortcut: ``SCORES.get(name)(**params).score(features, labels, source_probs)``."""
    return SCORES.get(name)(**params).score(features, labels, source_probs)
