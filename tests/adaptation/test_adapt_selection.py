"""Label-free selection: the risk formulas, the density ratio, and shallow closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.adaptation.risk_estimates import density_ratio, dev_risk, iwcv_risk, unreliable
from transferkit.adaptation.selection import choose, selection_risk, selection_scores
from transferkit.adaptation.shallow_coral import ShallowCORAL
from transferkit.adaptation.shallow_heads import fit_head
from transferkit.adaptation.subspace_alignment import SubspaceAlignment
from transferkit.adaptation.target_scores import im_score, snd_score
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


def test_separable_domains_make_the_weighted_risk_fall_back_to_source_loss():
    rng = np.random.default_rng(4)
    fs, ft = rng.normal(0, 1, (300, 3)), rng.normal(0, 1, (300, 3)) + 12.0  # no overlap at all
    fv, losses = rng.normal(0, 1, (200, 3)), rng.random(200)
    out = selection_risk("dev", val_losses=losses, f_val=fv, f_source=fs, f_target=ft)
    assert out["unreliable"] == 1.0 and "overlap" in out["fallback"]
    assert out["risk"] == pytest.approx(losses.mean()) and out["weight_mean"] < 1 / 3
    # overlapping domains: the weighted estimate is kept
    ok = selection_risk("dev", val_losses=losses, f_val=fv, f_source=fs, f_target=fs + 0.3)
    assert ok["unreliable"] == 0.0 and "fallback" not in ok and ok["risk"] == ok["dev"]


def test_unreliable_names_each_failure():
    w = np.ones(100)
    assert unreliable(0.5, w) is None
    assert "negative" in unreliable(-0.3, w)
    assert "average" in unreliable(0.5, w * 0.01)
    spiky = np.r_[np.full(99, 0.01), 99.0]  # mean 1, but one example carries it all
    assert "effective" in unreliable(0.5, spiky)


def test_one_unreliable_candidate_moves_every_candidate_to_im():
    table = [
        {"candidate": "a", "risk": 0.9, "loss": 0.2, "im": 1.5, "unreliable": 0.0},
        {"candidate": "b", "risk": 0.1, "loss": 0.5, "im": 2.0, "unreliable": 0.5},
    ]
    scores, rule, why = selection_scores("dev", table)
    assert rule == "im" and scores == {"a": -1.5, "b": -2.0} and "1 of 2" in why
    assert "information-maximisation" in why and choose(scores) == "b"
    # without target predictions for every candidate: the source validation loss
    table[0]["im"] = float("nan")
    scores, rule, why = selection_scores("dev", table)
    assert rule == "source-val" and scores == {"a": 0.2, "b": 0.5} and "source validation" in why
    assert choose(scores) == "a"
    table[1]["unreliable"] = 0.0
    assert selection_scores("dev", table) == ({"a": 0.9, "b": 0.1}, "dev", None)
    # rules that are not importance-weighted never fall back
    table[1]["unreliable"] = 1.0
    assert selection_scores("source-val", table)[1] == "source-val"


def test_target_side_scores_prefer_confident_diverse_clustered_predictions():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, 200)
    sharp = np.eye(4)[labels] * 8 + rng.normal(0, 0.3, (200, 4))  # confident, all classes used
    flat = rng.normal(0, 0.3, (200, 4))  # unsure everywhere
    collapsed = np.tile([8.0, 0, 0, 0], (200, 1)) + rng.normal(0, 0.3, (200, 4))  # one class
    assert im_score(sharp) > im_score(flat) and im_score(sharp) > im_score(collapsed)
    assert im_score(collapsed) < 0.1 and im_score(sharp) > np.log(4) - 0.2
    # SND: dense neighbourhoods (clusters of near-identical predictions) give a high entropy of
    # the soft neighbour distribution; scattered predictions give a low one
    scattered = rng.normal(0, 3, (200, 4))
    assert snd_score(sharp) > snd_score(scattered)
    assert snd_score(sharp[rng.permutation(200)]) == pytest.approx(snd_score(sharp))
    out = selection_risk(
        "im",
        val_losses=np.ones(5),
        f_val=np.zeros((5, 2)),
        f_source=np.zeros((5, 2)),
        f_target=np.zeros((5, 2)),
        t_logits=sharp,
    )
    assert out["risk"] == pytest.approx(-im_score(sharp)) and "dev" not in out
    assert selection_scores("im", [{"candidate": "a", "risk": -1.0, "unreliable": 0.0}])[1] == "im"


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
