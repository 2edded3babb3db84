"""Ensemble selection on planted predictions: the complementary pair beats either member, a
useless or duplicated member gets weight exactly 0, the weights are a capped distribution
whose blend is what was scored, and the ensemble is never worse than the best single model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.search.ensemble import Ensemble, blend, objective, select_ensemble

N, K = 100, 3


def labels(n: int = N, k: int = K, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, n)


def half_right(y: np.ndarray, first: bool) -> np.ndarray:
    """Sure and right (0.9) on one half of the examples; on the other, wrong with 0.5 on the
    next class and still 0.4 on the true one, so averaging with the reverse model is right."""
    n = len(y)
    proba = np.full((n, K), 0.05)
    rows = np.arange(n)
    good = rows < n // 2 if first else rows >= n // 2
    proba[rows[good], y[good]] = 0.9
    bad = rows[~good]
    proba[bad] = 0.1
    proba[bad, y[bad]] = 0.4
    proba[bad, (y[bad] + 1) % K] = 0.5
    return proba


def noisy(y: np.ndarray, strength: float, seed: int, k: int = K) -> np.ndarray:
    """A softmax model whose true-class logit is raised by ``strength``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (len(y), k))
    logits[np.arange(len(y)), y] += strength
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def assert_well_formed(ens: Ensemble, probas: dict, y: np.ndarray, max_members: int) -> None:
    w = np.array(list(ens.weights.values()))
    assert list(ens.weights) == list(probas)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert 1 <= np.count_nonzero(w) <= max_members
    assert ens.members == sorted(ens.members, key=lambda k: -ens.weights[k])
    assert set(ens.members) == {k for k, v in ens.weights.items() if v > 0}
    assert objective(blend(probas, ens.weights), y) == (ens.score, ens.nll)
    assert ens.score >= ens.best_single_score


@pytest.mark.parametrize("useless", ["uniform", "random"])
def test_the_complementary_pair_beats_either_member_and_the_useless_one_gets_weight_0(useless):
    y = labels()
    rng = np.random.default_rng(7)
    junk = np.full((N, K), 1 / K) if useless == "uniform" else rng.dirichlet(np.ones(K), N)
    probas = {"a": half_right(y, True), "junk": junk, "b": half_right(y, False)}
    ens = select_ensemble(probas, y)
    assert_well_formed(ens, probas, y, 5)
    assert ens.members in (["a", "b"], ["b", "a"])
    assert ens.weights["junk"] == 0.0
    # bags that hold only one of the pair give it all their weight: near, not at, one half
    assert 0.25 < ens.weights["a"] < 0.75
    singles = {k: objective(p, y)[0] for k, p in probas.items()}
    assert ens.score == 1.0 and ens.score > max(singles.values())
    assert ens.best_single in ("a", "b") and ens.best_single_score == 0.5
    # the whole-library path starts from the top two by the objective
    assert {s["added"] for s in ens.steps[:2]} == {"a", "b"}
    assert all(set(s) == {"added", "score", "nll"} for s in ens.steps)


def test_a_copy_of_the_best_adds_nothing_and_changes_nothing():
    y = labels(300, 4, seed=1)
    probas = {f"m{i}": noisy(y, s, seed=i, k=4) for i, s in enumerate([2.0, 1.5, 1.2, 0.8])}
    alone = select_ensemble(probas, y)
    best = alone.best_single
    with_copy = dict(probas)
    with_copy["copy"] = probas[best].copy()
    ens = select_ensemble(with_copy, y)
    assert ens.weights["copy"] == 0.0
    assert {k: v for k, v in ens.weights.items() if k != "copy"} == alone.weights
    assert (ens.score, ens.nll, ens.best_single) == (alone.score, alone.nll, best)


def test_a_library_of_copies_returns_the_first_alone():
    y = labels()
    p = noisy(y, 1.0, seed=3)
    ens = select_ensemble({"x": p, "y": p.copy(), "z": p.copy()}, y)
    assert ens.weights == {"x": 1.0, "y": 0.0, "z": 0.0} and ens.members == ["x"]


def test_one_candidate_has_weight_1():
    y = labels()
    ens = select_ensemble({"only": noisy(y, 1.0, seed=0)}, y)
    assert ens.weights == {"only": 1.0} and ens.score == ens.best_single_score


def library(n: int = 400, k: int = 5, m: int = 12) -> tuple[dict, np.ndarray]:
    y = labels(n, k, seed=2)
    strengths = np.linspace(0.5, 2.5, m)
    return {f"m{i}": noisy(y, s, seed=10 + i, k=k) for i, s in enumerate(strengths)}, y


def test_weak_but_diverse_models_make_an_ensemble_better_than_the_best_of_them():
    probas, y = library()
    ens = select_ensemble(probas, y)
    assert_well_formed(ens, probas, y, 5)
    assert len(ens.members) >= 2 and ens.score > ens.best_single_score


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_max_members_caps_the_members_and_1_returns_the_best_single(cap):
    probas, y = library()
    ens = select_ensemble(probas, y, max_members=cap)
    assert_well_formed(ens, probas, y, cap)
    if cap == 1:
        assert ens.members == [ens.best_single] and ens.weights[ens.best_single] == 1.0
        assert ens.score == ens.best_single_score


def test_the_same_seed_gives_the_same_ensemble_and_bags_depend_on_it():
    probas, y = library()
    runs = [select_ensemble(probas, y, seed=s) for s in (0, 0, 1, 2, 3)]
    assert runs[0] == runs[1]
    assert len({tuple(r.weights.values()) for r in runs[1:]}) > 1
    for r in runs[2:]:
        assert_well_formed(r, probas, y, 5)


@pytest.mark.parametrize("init_top", [0, 1, 3])
def test_every_step_of_the_recorded_path_scores_the_blend_of_its_prefix(init_top):
    probas, y = library(k=4)
    probas["uniform"] = np.full((len(y), 4), 0.25)  # ties in every row: argmax takes class 0
    ens = select_ensemble(probas, y, rounds=10, init_top=init_top, bags=0)
    assert len(ens.steps) == 10 + init_top
    counts: dict[str, float] = {}
    for step in ens.steps:
        counts[step["added"]] = counts.get(step["added"], 0) + 1
        acc, nll = objective(blend(probas, counts), y)
        assert step["score"] == acc and step["nll"] == pytest.approx(nll, rel=1e-9)


def test_the_greedy_steps_break_a_tie_between_classes_as_argmax_does():
    y = np.zeros(50, dtype=int)
    probas = {"bad": np.tile([0.4, 0.6], (50, 1)), "uniform": np.full((50, 2), 0.5)}
    ens = select_ensemble(probas, y, init_top=0, rounds=3, bags=0)
    assert ens.steps[0] == {"added": "uniform", "score": 1.0, "nll": pytest.approx(np.log(2))}
    assert ens.weights == {"bad": 0.0, "uniform": 1.0}


def test_without_bagging_the_ensemble_is_the_best_point_of_the_path_not_the_last():
    y = labels(200, 3, seed=2)
    probas = {"a": noisy(y, 2.0, seed=1), "b": noisy(y, 1.0, seed=2)}
    ens = select_ensemble(probas, y, rounds=25, bags=0)
    best = max(ens.steps, key=lambda s: (s["score"], -s["nll"]))
    last = ens.steps[-1]
    assert (best["score"], -best["nll"]) > (last["score"], -last["nll"])  # the path got worse
    assert ens.score == best["score"] and ens.nll == pytest.approx(best["nll"], rel=1e-9)
    assert len(ens.members) == 2


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 40),
    st.integers(2, 4),
    st.integers(0, 2**16),
    st.booleans(),
)
def test_the_ensemble_is_never_worse_than_the_best_single_candidate(m, n, k, seed, sharp):
    rng = np.random.default_rng(seed)
    alpha = 0.2 if sharp else 1.0  # sharp: near one-hot, with many ties on small n
    probas = {f"c{i}": rng.dirichlet(np.full(k, alpha), n) for i in range(m)}
    y = rng.integers(0, k, n)
    cap = int(rng.integers(1, 4))
    ens = select_ensemble(probas, y, max_members=cap, rounds=8, bags=4, seed=seed)
    assert_well_formed(ens, probas, y, cap)
    best = max(objective(p, y) for p in probas.values())[0]
    assert ens.best_single_score == best
    assert select_ensemble(probas, y, max_members=cap, rounds=8, bags=4, seed=seed) == ens


def test_blend_is_the_normalised_weighted_average_and_ignores_weight_0():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    out = blend({"a": a, "b": b, "c": np.array([[0.5]])}, {"a": 3, "b": 1, "c": 0})
    assert np.allclose(out, [[0.75, 0.25]])
    with pytest.raises(ValueError):
        blend({"a": a}, {"a": 0.0})


def test_objective_is_accuracy_and_clipped_nll():
    proba = np.array([[0.9, 0.1], [0.0, 1.0], [0.6, 0.4]])
    acc, nll = objective(proba, np.array([0, 0, 1]))
    assert acc == pytest.approx(1 / 3)
    assert nll == pytest.approx(-(np.log(0.9) + np.log(1e-12) + np.log(0.4)) / 3)


@pytest.mark.parametrize(
    "probas, y",
    [
        ({}, np.zeros(2, int)),
        ({"a": np.full((2, 2), 0.5), "b": np.full((3, 2), 0.5)}, np.zeros(2, int)),
        ({"a": np.full((2, 2), 0.5)}, np.zeros(3, int)),
        ({"a": np.full((2, 2), 0.5)}, np.array([0, 2])),
        ({"a": np.ones((2, 2))}, np.zeros(2, int)),
    ],
    ids=["empty", "shapes", "labels", "label-range", "not-probabilities"],
)
def test_mismatched_inputs_are_programming_errors(probas, y):
    with pytest.raises(ValueError):
        select_ensemble(probas, y)
