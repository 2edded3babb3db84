"""Classification metrics from the confusion matrix agree with scikit-learn's on any labels and
predictions: classes absent from the truth, never predicted, or both (zero_division=0)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from transferkit.evaluation.metrics import classification_metrics


@st.composite
def labelled_predictions(draw):
    k = draw(st.integers(1, 7))
    n = draw(st.integers(1, 40))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    pred = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    proba = np.full((n, k), 0.1 / k)
    proba[np.arange(n), pred] += 0.9  # argmax is pred
    return y, pred, proba / proba.sum(1, keepdims=True), k


@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn: classes absent from y_true
@settings(max_examples=200, deadline=None)
@given(labelled_predictions())
def test_metrics_match_scikit_learn(case):
    y, pred, proba, k = case
    m = classification_metrics(y, proba, [f"c{i}" for i in range(k)])
    labels = list(range(k))
    p, r, f, support = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    present = support > 0
    assert m["confusion"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    assert np.isclose(m["macro_f1"], f[present].mean())
    assert np.isclose(m["balanced_accuracy"], r[present].mean())
    assert np.isclose(m["balanced_accuracy"], skm.balanced_accuracy_score(y, pred))
    assert np.isclose(m["accuracy"], skm.accuracy_score(y, pred))
    for i in range(k):
        pc = m["per_class"][f"c{i}"]
        assert np.isclose(pc["precision"], p[i]) and np.isclose(pc["recall"], r[i])
        assert pc["support"] == support[i]
