"""Splits: disjoint, stratified, seeded, nested label budgets, paired and predefined test sets."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.data import ArrayDataset, make_splits, stratified_kfold
from transferkit.errors import UserError

COUNTS = [60, 30, 20, 6, 3, 2]


def dataset(counts=COUNTS, predefined=None):
    labels = np.repeat(np.arange(len(counts)), counts)
    labels = np.random.default_rng(123).permutation(labels)  # interleaved, like real data
    images = np.zeros((len(labels), 2, 2), np.uint8)
    return ArrayDataset(
        images, labels, [f"c{i}" for i in range(len(counts))], predefined=predefined
    )


def per_class(ds, idx):
    return np.bincount(ds.labels[idx], minlength=len(ds.classes))


def test_disjoint_cover_sorted_and_stratified():
    ds = dataset()
    s = make_splits(ds, seed=0)
    parts = [s.train, s.val, s.test]
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(ds)))
    test, val = per_class(ds, s.test), per_class(ds, s.val)
    assert abs(len(s.test) - round(0.2 * len(ds))) <= 1
    assert np.all(np.abs(test - 0.2 * np.array(COUNTS)) <= 1)
    pool = np.array(COUNTS) - test
    assert np.all(val >= 1) and np.all(np.abs(val - 0.2 * pool) <= 1)
    assert np.all(per_class(ds, s.train) >= 1)


def test_seeded_determinism():
    ds = dataset()
    a, b, c = (make_splits(ds, seed=s, labels_per_class=2) for s in (7, 7, 8))
    for x, y in zip((a.train, a.val, a.test), (b.train, b.val, b.test), strict=True):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.test, c.test)


def test_test_set_paired_and_labelled_sets_nested():
    counts = [60, 30, 20, 6, 5]
    ds = dataset(counts)
    full = make_splits(ds, seed=3)
    prev = set()
    for n in (1, 2, 3, 4):
        s = make_splits(ds, seed=3, labels_per_class=n)
        assert np.array_equal(s.test, full.test)  # same test whatever the budget
        labelled = set(s.train.tolist()) | set(s.val.tolist())
        assert prev <= labelled  # larger budgets contain smaller ones
        assert np.all(per_class(ds, np.array(sorted(labelled))) == n)
        assert np.all(per_class(ds, s.val) == (1 if n >= 2 else 0))  # budget covers val too
        prev = labelled
    assert prev <= set(full.train.tolist()) | set(full.val.tolist())


def test_label_budget_too_large_names_class_and_limit():
    with pytest.raises(UserError) as e:
        make_splits(dataset(), seed=0, labels_per_class=10)
    msg = str(e.value)
    assert "'c4'" in msg and "only 2" in msg and "labels_per_class <= 2" in msg


def test_predefined_test_respected_and_subsampled():
    counts = [40, 40, 20]
    pre = np.array(["train"] * 70 + ["test"] * 30)
    ds = dataset(counts, predefined=pre)
    s = make_splits(ds, seed=0)
    assert np.array_equal(s.test, np.flatnonzero(pre == "test"))
    small = make_splits(ds, seed=0, max_test=10, labels_per_class=3)
    assert len(small.test) == 10 and np.all(pre[small.test] == "test")
    expected = 10 * per_class(ds, s.test) / len(s.test)
    assert np.all(np.abs(per_class(ds, small.test) - expected) <= 1)
    used = np.concatenate([small.train, small.val])
    assert np.all(pre[used] == "train")  # official test items never become training data


def test_max_test_without_predefined():
    s = make_splits(dataset(), seed=0, max_test=12)
    assert len(s.test) == 12


@pytest.mark.parametrize(
    "counts, kwargs, words",
    [
        ([5, 1], {}, "single example of class 'c1'"),
        ([5], {}, "single class"),
        ([5, 5], {"val_fraction": 1.0}, "val_fraction"),
        ([5, 5], {"test_fraction": -0.1}, "test_fraction"),
        ([5, 5], {"labels_per_class": 0}, "at least 1"),
        ([5, 5], {"max_test": 0}, "max_test"),
    ],
)
def test_bad_split_requests(counts, kwargs, words):
    with pytest.raises(UserError, match=words):
        make_splits(dataset(counts), seed=0, **kwargs)


def test_unlabelled_refused():
    ds = ArrayDataset(np.zeros((4, 2, 2), np.uint8), None, [])
    with pytest.raises(UserError, match="no labels"):
        make_splits(ds, seed=0)


def test_two_per_class_still_splits():
    ds = dataset([2, 2, 2])
    s = make_splits(ds, seed=0)
    assert (
        len(s.test) == 0
        and np.all(per_class(ds, s.train) == 1)
        and np.all(per_class(ds, s.val) == 1)
    )


def test_stratified_kfold():
    labels = dataset([9, 6, 3]).labels
    folds = stratified_kfold(labels, 3, seed=1)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(len(labels)))
    for tr, te in folds:
        assert not set(tr) & set(te) and np.array_equal(np.bincount(labels[te]), [3, 2, 1])
    again = stratified_kfold(labels, 3, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    with pytest.raises(UserError, match="class 'rare' has only 3"):
        stratified_kfold(labels, 4, seed=1, classes=["a", "b", "rare"])
    with pytest.raises(UserError, match="at least 2 folds"):
        stratified_kfold(labels, 1, seed=1)
