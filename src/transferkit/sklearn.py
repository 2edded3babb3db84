"""``TransferClassifier``: transferkit behind scikit-learn's estimator interface.

It works in ``cross_val_score``, pipelines and grid searches: the constructor only stores
parameters, ``fit`` returns ``self``, fitted attributes end in ``_``. ``X`` is an array of
images, (N, H, W) or (N, H, W, C), uint8 or floats in [0, 1]. Each ``fit`` is a recorded run.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from transferkit.data.base import ArrayDataset
from transferkit.data.splits import Splits
from transferkit.errors import UserError


def _as_images(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim not in (3, 4):
        raise UserError(f"X must be images shaped (N, H, W) or (N, H, W, C); got shape {X.shape}.")
    if X.dtype != np.uint8:
        X = X.astype(np.float64)
        scale = 255.0 if X.size and X.max() <= 1.0 else 1.0
        X = np.clip(np.rint(X * scale), 0, 255).astype(np.uint8)
    return X


def _fingerprint(X: np.ndarray, y: np.ndarray | None) -> str:
    h = hashlib.sha256(str((X.shape, X.dtype.str)).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    if y is not None:
        h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """A transferred image classifier: source ``model``, transfer ``strategy`` and recipe."""

    def __init__(
        self,
        model: str = "effnet-lite0",
        strategy: str = "auto",
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

        images = _as_images(X)
        y = np.asarray(y)
        if len(y) != len(images):
            raise UserError(f"X has {len(images)} images but y has {len(y)} labels.")
        self.classes_, yi = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise UserError("y holds a single class; a classifier needs at least two.")
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
        return self.classes_[self.predict_proba(X).argmax(1)]
