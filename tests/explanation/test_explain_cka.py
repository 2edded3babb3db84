"""Linear CKA's properties, the reading of a CKA profile, and the source-class table against a
direct computation of the empirical joint."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from transferkit.explanation.change import BARELY, read_profile
from transferkit.explanation.cka import linear_cka
from transferkit.explanation.mapping import source_class_table


@pytest.fixture
def feats():
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))


def test_cka_of_a_representation_with_itself_is_one(feats):
    assert linear_cka(feats, feats) == pytest.approx(1.0, abs=1e-12)
    wide = np.random.default_rng(1).normal(size=(30, 200))  # more features than examples
    assert linear_cka(wide, wide) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling(feats):
    q = ortho_group.rvs(20, random_state=3)
    other = np.tanh(feats[:, :12])
    base = linear_cka(feats, other)
    assert linear_cka(feats @ q, other) == pytest.approx(base, rel=1e-10)
    assert linear_cka(7.5 * feats, 0.01 * other) == pytest.approx(base, rel=1e-10)
    assert linear_cka(feats + 3.0, other) == pytest.approx(base, rel=1e-10)  # centred
    wide = np.random.default_rng(4).normal(size=(40, 100))
    q100 = ortho_group.rvs(100, random_state=5)
    assert linear_cka(wide @ q100, wide[:, :50]) == pytest.approx(
        linear_cka(wide, wide[:, :50]), rel=1e-10
    )
    # not invariant to an arbitrary invertible linear map
    skew = np.diag(np.linspace(0.1, 10, 20))
    assert abs(linear_cka(feats @ skew, other) - base) > 1e-3


def test_cka_of_independent_random_features_is_near_zero():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    assert 0 <= linear_cka(x, y) < 0.03
    assert np.isnan(linear_cka(np.ones((10, 3)), x[:10]))


def test_cka_matches_the_formula_of_the_paper():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(50, 5)), rng.normal(size=(50, 8))
    h = np.eye(50) - 1 / 50
    k, l_ = h @ x @ x.T @ h, h @ y @ y.T @ h  # HSIC with linear kernels, centred
    direct = np.trace(k @ l_) / np.sqrt(np.trace(k @ k) * np.trace(l_ @ l_))
    assert linear_cka(x, y) == pytest.approx(direct, rel=1e-10)


def test_reading_names_the_blocks_that_barely_changed_and_suggests_unfreeze():
    text, k = read_profile([0.99, 0.98, 0.97, 0.96, 0.7, 0.4], [0.01, 0.01, 0.02, 0.02, 0.1, 0.3])
    assert k == 2
    assert text.startswith("Blocks 1-4 barely changed") and "--unfreeze 2" in text
    assert "block 6 (30.0%)" in text
    text, k = read_profile([0.6, 0.5], [0.2, 0.3])
    assert k is None and "from block 1 on" in text
    text, k = read_profile([BARELY, 0.99], [0.0, 0.001])
    assert k is None and "--strategy linear" in text


def test_source_class_table_is_the_normalised_empirical_joint():
    rng = np.random.default_rng(8)
    probs = rng.dirichlet(np.ones(6), size=90)
    labels = rng.integers(0, 3, 90)
    rows = source_class_table(probs, labels, ["a", "b", "c"], list("uvwxyz"), top=2)
    for y, row in enumerate(rows):
        cond = probs[labels == y].mean(axis=0)  # P(z | y) directly
        best = np.argsort(-cond)[:2]
        assert row["class"] == "abc"[y] and row["examples"] == int((labels == y).sum())
        assert [s[0] for s in row["sources"]] == ["uvwxyz"[z] for z in best]
        assert [s[1] for s in row["sources"]] == pytest.approx(cond[best])


def test_reading_without_fit_flags_and_with_a_statistics_only_change():
    text, k = read_profile([0.99, 0.5], [0.02, 0.2], flag=False)
    assert k == 1 and "--unfreeze" not in text and "the top block (block 2, CKA 0.50)" in text
    assert "Training only it is likely" in text
    text, _ = read_profile([0.8, 0.7], [0.001, 0.3])
    assert "normalisation statistics" in text
