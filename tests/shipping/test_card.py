"""The model card's numbers and its escaping of user-supplied strings."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from transferkit.shipping import card


def test_intervals_hold_the_values_and_accuracy_is_wilson():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    proba = np.full((200, 3), 0.1)
    right = rng.random(200) < 0.8
    proba[np.arange(200), np.where(right, y, (y + 1) % 3)] = 0.8
    rows = {r[0]: r for r in card.metric_intervals(y, proba)}
    acc = right.mean()
    ci = binomtest(int(right.sum()), 200).proportion_ci(method="wilson")
    assert rows["accuracy"][1] == f"{100 * acc:.1f}%"
    assert rows["accuracy"][2] == f"{100 * ci.low:.1f}% - {100 * ci.high:.1f}%"
    for name in ("balanced accuracy", "macro-F1"):
        value = float(rows[name][1].rstrip("%"))
        low, high = (float(v.strip().rstrip("%")) for v in rows[name][2].split(" - "))
        assert low <= value <= high and high - low < 20
    assert card.metric_intervals(y, proba) == card.metric_intervals(y, proba)  # seeded


def test_class_names_cannot_break_the_tables():
    lines = card._table(["a", "b"], [["x|y", "new\nline"]])
    assert lines[-1] == "| x\\|y | new line |"


def test_the_card_names_a_zoo_models_licence_and_points_elsewhere_when_unknown():
    assert card._licence("effnet-lite0") == "Apache-2.0"
    assert card._licence("minilm-l6") == "Apache-2.0"
    assert card._licence("tiny-cnn") == "see the source model's own card"  # random weights
    assert card._licence("run:r20260101-000000-abcd") == "see the source model's own card"
