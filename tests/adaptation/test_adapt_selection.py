"""Label-free selection: the risk formulas, the density ratio, and shallow closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.adaptation.selection import choose, density_ratio, dev_risk, iwcv_risk
from transferkit.adaptation.shallow_coral import ShallowCORAL
from transferkit.adaptation.shallow_heads import fit_head
from transferkit.adaptation.subspace_alignment import SubspaceAlignment
from transferkit.errors import UserError


def test_iwcv_and_dev_formulas():
    rng = np.random.default_rng(0)
    loss, w = rng.random(50), rng.gamma(2.0, 0.5, 50)
    assert iwcv_risk(loss, w) == pytest.approx(np.mean(w * loss))
    big_l = w * loss
    eta = -np.cov(np.stack([big_l, w]))[0, 1] / np.var(w, ddof=1)
    assert dev_risk(loss, w) == pytest.approx(big_l.mean() + eta * w.mean() - eta)
    assert dev_risk(loss, np.ones(50)) == pytest.approx(loss.mean())  # no shift: plain mean


def test_density_ratio_is_larger_where_the_target_lives():
    rng = np.random.default_rng(1)
    fs, ft = rng.normal(0, 1, (400, 2)), rng.normal(1.5, 1, (400, 2))
    w = density_ratio(fs, ft, np.array([[-2.0, -2.0], [0.75, 0.75], [3.0, 3.0]]))
    assert w[0] < 0.2 < w[1] < 5 < w[2]
    assert density_ratio(fs, fs + 1e-9, fs).mean() == pytest.approx(1.0, abs=0.2)


def test_choose_ignores_nan_and_refuses_all_nan():
    assert choose({"a": 2.0, "b": float("nan"), "c": 1.0}) == "c"
    with pytest.raises(UserError):
        choose({"a": float("nan")})


def test_shallow_coral_makes_the_source_covariance_the_targets():
    rng = np.random.default_rng(2)
    fs = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))
    ft = rng.normal(size=(250, 4)) @ rng.normal(size=(4, 4)) + 3.0
    coral = ShallowCORAL(lam=1e-9).fit(fs, ft)
    moved = coral.source_map(fs)
    assert np.allclose(np.cov(moved, rowvar=False), np.cov(ft, rowvar=False), atol=1e-6)
    assert np.allclose(moved.mean(0), ft.mean(0))
    assert not np.allclose(np.cov(fs, rowvar=False), np.cov(ft, rowvar=False), atol=0.5)


def test_folded_head_equals_head_on_the_mapped_target():
    rng = np.random.default_rng(3)
    fs, ft = rng.normal(size=(120, 6)), rng.normal(size=(90, 6)) * 2 + 1
    ys = (fs[:, 0] > 0).astype(int) + (fs[:, 1] > 0).astype(int)
    sa = SubspaceAlignment(dim=3)
    (wm, bm), (w, b) = fit_head(sa, fs, ys, ft, 3)
    raw = ft @ w.double().numpy().T + b.double().numpy()
    mapped = sa.target_map(ft) @ wm.T + bm
    assert np.allclose(raw, mapped, atol=1e-4)
    assert sa.source_map(fs).shape == (120, 3)
