"""``TransferClassifier``: transferkit behind scikit-learn's estimator interface.

It works in ``cross_val_score``, pipelines and grid searches: the constructor only stores
parameters, ``fit`` returns ``self``, fitted attributes end in ``_``. ``X`` is an array of
images: (N, H, W), (N, H, W, C) or (N, C, H, W), or flattened square grey images (N, H * H) as
``load_digits().data`` and MNIST's 784 columns come; uint8 in 0..255 or floats in 0..1. Each
``fit`` is a recorded run.

Bad input raises :class:`InvalidInput`, both a :class:`~transferkit.errors.UserError` and the
``ValueError`` scikit-learn's tools expect: sparse, complex, NaN or infinite, negative or empty
``X``, continuous or single-class ``y``, lengths that differ, images other than those fitted on.
scikit-learn's own estimator checks run on it in ``tests/test_sklearn.py``; those that feed
tabular data that cannot be images are listed there with why.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    check_non_negative,
    column_or_1d,
)

from transferkit.data.arrays import as_images
from transferkit.data.base import ArrayDataset
from transferkit.data.splits import Splits
from transferkit.errors import UserError


class InvalidInput(UserError, ValueError):
    """Input a :class:`TransferClassifier` cannot use: a UserError (a problem the user fixes)
    that is a ValueError too, as scikit-learn's conventions and tools expect."""


def _checked(X) -> np.ndarray:
    """``X`` as a dense, finite, non-negative numeric array of at least two dimensions."""
    try:
        X = check_array(X, allow_nd=True, dtype="numeric")
        check_non_negative(X, "TransferClassifier (pixel values)")
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            f"{e} TransferClassifier takes images: (N, H, W), (N, H, W, C) or flattened "
            "square images (N, H * H), uint8 or floats in 0..1."
        ) from None
    return X


def _as_images(X: np.ndarray) -> np.ndarray:
    """Checked ``X`` as contiguous uint8 (N, H, W) or (N, H, W, 3), as the array readers make
    them (:func:`transferkit.data.arrays.as_images`)."""
    try:
        return as_images(X, "X")
    except UserError as e:
        raise InvalidInput(f"{e} Flattened square grey images (N, H * H) work too.") from None


def _labels(y, n: int) -> np.ndarray:
    """``y`` as a 1-D array of at least two classes for ``n`` examples."""
    try:
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        check_consistent_length(np.empty(n), y)
    except ValueError as e:
        raise InvalidInput(f"y: {e}") from None
    return y


def _fingerprint(X: np.ndarray, y: np.ndarray | None) -> str:
    h = hashlib.sha256(str((X.shape, X.dtype.str)).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    if y is not None:
        h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """A transferred image classifier: source ``model``, transfer ``strategy`` and recipe.

    Fitted attributes: ``classes_``, ``n_features_in_`` (values per example in the ``X`` it
    was fitted on; ``predict`` refuses another count), ``model_``, ``run_id_`` (the recorded
    run), ``strategy_``, ``history_``.
    """

    def __init__(
        self,
        model: str = "effnet-lite0",
        strategy: str = "linear-or-finetune",
        epochs: int = 15,
        batch_size: int = 32,
        lr: float = 1e-3,
        image_size: int | None = None,
        val_fraction: float = 0.2,
        augment: bool = True,
        hflip: bool = True,
        seed: int = 0,
        device: str = "auto",
        weights: str | None = None,
    ) -> None:
        self.model = model
        self.strategy = strategy
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.image_size = image_size
        self.val_fraction = val_fraction
        self.augment = augment
        self.hflip = hflip
        self.seed = seed
        self.device = device
        self.weights = weights

    def fit(self, X, y) -> TransferClassifier:
        from transferkit.runs.fit import fit

        X = _checked(X)
        y = _labels(y, len(X))
        classes, yi = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise InvalidInput(
                f"y holds one class ({classes[0]!r}); a classifier needs at least two."
            )
        images = _as_images(X)
        self.classes_ = classes
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        data = ArrayDataset(
            images,
            yi.astype(np.int64),
            [str(c) for c in self.classes_],
            name="array",
            fingerprint=_fingerprint(images, yi),
            hflip_safe=self.hflip,
        )
        idx = np.arange(len(yi))
        counts = np.bincount(yi)
        strat = yi if counts.min() >= 2 else None
        tr, va = train_test_split(
            idx, test_size=self.val_fraction, random_state=self.seed, stratify=strat
        )
        splits = Splits(np.sort(tr), np.sort(va), np.zeros(0, dtype=np.int64))
        result = fit(
            dataset=data,
            splits=splits,
            model=self.model,
            strategy=self.strategy,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            image_size=self.image_size,
            val_fraction=self.val_fraction,
            augment=self.augment,
            seed=self.seed,
            device=self.device,
            weights=self.weights,
        )
        self.model_ = result.model
        self.run_id_ = result.run_id
        self.strategy_ = result.strategy
        self.history_ = result.history
        return self

    def predict_proba(self, X) -> np.ndarray:
        from transferkit import distributed
        from transferkit.evaluation.metrics import softmax
        from transferkit.evaluation.predict import predict_logits

        check_is_fitted(self, "model_")
        X = _checked(X)
        n = int(np.prod(X.shape[1:]))
        if n != self.n_features_in_:
            raise InvalidInput(
                f"X has {n} features, but TransferClassifier is expecting "
                f"{self.n_features_in_} features as input: give images of the shape it was "
                "fitted on."
            )
        images = _as_images(X)
        data = ArrayDataset(images, None, [str(c) for c in self.classes_], name="array")
        logits = predict_logits(
            self.model_,
            data,
            np.arange(len(images)),
            device=distributed.device_for(self.device),
            batch_size=self.batch_size * 2,
            shard=False,
        )
        return softmax(logits)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it says NotFittedError before fit
        return self.classes_[proba.argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # pixel values
        tags.classifier_tags.poor_score = True  # a transferred CNN on sklearn's tabular data
        return tags
