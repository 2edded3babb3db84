"""TransferClassifier behaves like a scikit-learn estimator: scikit-learn's own estimator
checks (``parametrize_with_checks``) on a tiny model, with the checks that cannot apply to
images listed and explained, and the behaviour those checks do not see."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import estimator_checks_generator, parametrize_with_checks

from transferkit import TransferClassifier
from transferkit.errors import UserError
from transferkit.sklearn import InvalidInput

#: A fast configuration for the estimator checks: tiny-cnn, one epoch, 8 px inputs.
TINY = dict(model="tiny-cnn", strategy="linear", epochs=1, image_size=8, batch_size=16)

_TABULAR = (
    "feeds tabular X of {} columns; TransferClassifier takes images, and {} columns are "
    "not a flattened square image, so fit refuses X (as it should) before the check's point"
)
#: scikit-learn checks that cannot pass, and why. All feed (N, F) tabular data with F not a
#: square number (2, 3, 5, 10): no image layout, so ``fit`` raises before the check's point.
#: The checks that run on square F (iris's 4 columns, 1 column) or test input validation
#: (sparse, complex, NaN, negative, empty, continuous or single-class y, not fitted) pass.
EXPECTED_FAILED = {
    "check_fit_score_takes_y": _TABULAR.format(3, 3),
    "check_estimators_overwrite_params": _TABULAR.format(2, 2),
    "check_dont_overwrite_parameters": _TABULAR.format(3, 3),
    "check_estimators_fit_returns_self": _TABULAR.format(2, 2),
    "check_readonly_memmap_input": _TABULAR.format(2, 2),
    "check_estimators_dtypes": _TABULAR.format(5, 5),
    "check_dtype_object": _TABULAR.format(10, 10),
    "check_pipeline_consistency": _TABULAR.format(3, 3),
    "check_estimators_nan_inf": _TABULAR.format(3, 3) + " with finite values",
    "check_estimators_pickle": _TABULAR.format(3, 3),
    "check_f_contiguous_array_estimator": _TABULAR.format(3, 3),
    "check_classifier_data_not_an_array": _TABULAR.format(2, 2),
    "check_classifiers_classes": _TABULAR.format(2, 2),
    "check_classifiers_train": _TABULAR.format(2, 2),
    "check_supervised_y_2d": _TABULAR.format(3, 3),
    "check_methods_sample_order_invariance": _TABULAR.format(3, 3),
    "check_methods_subset_invariance": _TABULAR.format(3, 3),
    "check_dict_unchanged": _TABULAR.format(3, 3),
    "check_fit_idempotent": _TABULAR.format(2, 2),
    "check_fit_check_is_fitted": _TABULAR.format(2, 2),
    "check_n_features_in": _TABULAR.format(2, 2),
    "check_fit2d_predict1d": _TABULAR.format(3, 3),
}


CHECKS = parametrize_with_checks(
    [TransferClassifier(**TINY)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
    xfail_strict=True,  # a listed check that starts passing must leave the list
)


@CHECKS
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _listed() -> list:
    """The (estimator, check) pairs listed as expected to fail, named by their check."""
    return [
        pytest.param(estimator, check, id=_check_name(check))
        for estimator, check in estimator_checks_generator(TransferClassifier(**TINY))
        if _check_name(check) in EXPECTED_FAILED
    ]


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


def test_every_listed_check_exists():
    assert {p.id for p in _listed()} == set(EXPECTED_FAILED)


@pytest.mark.parametrize("estimator, check", _listed())
def test_listed_checks_fail_only_because_tabular_x_is_not_images(estimator, check):
    """The reason given is the reason: each listed check stops at fit's refusal of its X."""
    with pytest.raises(InvalidInput, match=r"The images in X have shape \(\d+, \d+\)"):
        check(estimator)


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
    assert clf.n_features_in_ == 64
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params() and not hasattr(c2, "model_")
    proba = clf.predict_proba(X[:7])
    assert proba.shape == (7, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    labels = np.array(["even", "odd"])[y % 2]
    clf2 = TransferClassifier(model="tiny-cnn", strategy="linear", image_size=32).fit(X, labels)
    assert set(clf2.predict(X[:20])) <= {"even", "odd"}


def test_flattened_square_images_are_the_same_images():
    """``load_digits().data`` (N, 64) is read as the 8 x 8 images ``.images`` holds."""
    X, y = _digits(120)
    flat = TransferClassifier(**TINY).fit(X.reshape(len(X), 64), y)
    square = TransferClassifier(**TINY).fit(X, y)
    np.testing.assert_array_equal(flat.predict_proba(X[:9]), square.predict_proba(X[:9]))
    assert flat.predict(X[:9].reshape(9, 64)).tolist() == square.predict(X[:9]).tolist()


@pytest.mark.parametrize(
    "X, y, message",
    [
        (-np.ones((6, 8, 8)), np.arange(6) % 2, "Negative values in data"),
        (np.full((6, 8, 8), np.nan), np.arange(6) % 2, "contains NaN"),
        (np.zeros((6, 8, 8)), np.zeros(6), "y holds one class"),
        (np.zeros((6, 8, 8)), np.linspace(0, 1, 6), "continuous"),
        (np.zeros((6, 8, 8)), np.arange(5) % 2, "inconsistent numbers of samples"),
        (np.zeros((6, 7)), np.arange(6) % 2, r"shape \(6, 7\).*Flattened square"),
    ],
    ids=["negative", "nan", "one-class", "continuous-y", "lengths", "not-images"],
)
def test_bad_input_is_a_user_error_and_a_value_error(X, y, message):
    with pytest.raises(UserError, match=message) as info:
        TransferClassifier(**TINY).fit(X, y)
    assert isinstance(info.value, ValueError)


def test_predict_before_fit_and_on_other_images_is_refused():
    X, y = _digits(60)
    with pytest.raises(NotFittedError):
        TransferClassifier(**TINY).predict(X)
    clf = TransferClassifier(**TINY).fit(X, y)
    with pytest.raises(
        UserError, match="X has 81 features, but TransferClassifier is expecting 64"
    ):
        clf.predict(np.zeros((2, 9, 9)))
