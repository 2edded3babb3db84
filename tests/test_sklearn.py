"""TransferClassifier behaves like a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score

from transferkit import TransferClassifier


def _digits(n=300):
    d = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(d.target))[:n]
    return (d.images[idx] / 16.0).astype(np.float32), d.target[idx]


def test_cross_val_score_runs_and_beats_chance():
    X, y = _digits()
    clf = TransferClassifier(model="tiny-cnn", strategy="linear", image_size=32)
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() > 0.4


def test_fit_returns_self_and_clone_keeps_params():
    X, y = _digits(200)
    clf = TransferClassifier(model="tiny-cnn", strategy="linear", image_size=32, seed=3)
    assert clf.fit(X, y) is clf
    assert hasattr(clf, "run_id_") and set(clf.classes_) == set(range(10))
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params() and not hasattr(c2, "model_")
    proba = clf.predict_proba(X[:7])
    assert proba.shape == (7, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    labels = np.array(["even", "odd"])[y % 2]
    clf2 = TransferClassifier(model="tiny-cnn", strategy="linear", image_size=32).fit(X, labels)
    assert set(clf2.predict(X[:20])) <= {"even", "odd"}
