"""Golden checks: each adaptation loss against a direct, slow implementation of its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transferkit.adaptation.losses import MK_SCALES, coral_loss, mcc_loss, mk_mmd2
from transferkit.adaptation.modules import MultilinearMap, grl_coefficient, reverse_gradient
from transferkit.transferability.similarity import median_bandwidth, mmd2_unbiased


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_mk_mmd_equals_mean_of_single_kernel_mmds():
    x, y = _rng(0).normal(size=(12, 5)), _rng(1).normal(1.5, 1.3, size=(9, 5))
    med = median_bandwidth(x, y)
    expected = np.mean([mmd2_unbiased(x, y, s * med) for s in MK_SCALES])
    got = mk_mmd2(torch.tensor(x), torch.tensor(y)).item()
    assert got == pytest.approx(expected, rel=1e-4)
    assert got > 0.05  # the two samples really differ


def test_mk_mmd_near_zero_for_one_distribution_and_differentiable():
    x = torch.tensor(_rng(2).normal(size=(200, 3)), requires_grad=True)
    y = torch.tensor(_rng(3).normal(size=(200, 3)))
    v = mk_mmd2(x, y)
    assert abs(v.item()) < 0.01
    v.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def _slow_cov(a: np.ndarray) -> np.ndarray:
    n, d = a.shape
    mu = a.mean(0)
    c = np.zeros((d, d))
    for i in range(n):
        c += np.outer(a[i] - mu, a[i] - mu)
    return c / (n - 1)


def test_coral_loss_is_the_paper_formula():
    xs, xt = _rng(4).normal(size=(10, 4)), _rng(5).normal(size=(7, 4)) * 2.0
    d = 4
    expected = np.sum((_slow_cov(xs) - _slow_cov(xt)) ** 2) / (4 * d * d)
    assert coral_loss(torch.tensor(xs), torch.tensor(xt)).item() == pytest.approx(
        expected, rel=1e-5
    )
    assert coral_loss(torch.tensor(xs), torch.tensor(xs)).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_reversal_sign_and_scale():
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    (reverse_gradient(x, 0.37) * upstream).sum().backward()
    assert torch.allclose(x.grad, -0.37 * upstream)
    assert torch.equal(reverse_gradient(x, 0.37), x)  # identity forward


def test_grl_warmup_schedule():
    assert grl_coefficient(0.0) == 0.0
    assert grl_coefficient(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert grl_coefficient(0.1) == pytest.approx(2 / (1 + math.exp(-1)) - 1)
    values = [grl_coefficient(p / 10) for p in range(11)]
    assert values == sorted(values) and values[-1] < 1.0


def _slow_mcc(logits: np.ndarray, t: float) -> float:
    b, k = logits.shape
    z = logits / t
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    h = np.array([-sum(p[i, j] * math.log(p[i, j]) for j in range(k)) for i in range(b)])
    w = 1 + np.exp(-h)
    w = b * w / w.sum()
    c = np.zeros((k, k))
    for j in range(k):
        for jj in range(k):
            c[j, jj] = sum(p[i, j] * w[i] * p[i, jj] for i in range(b))
    c = c / c.sum(1, keepdims=True)
    return sum(abs(c[j, jj]) for j in range(k) for jj in range(k) if j != jj) / k


def test_mcc_loss_is_the_paper_formula():
    logits = _rng(6).normal(scale=3.0, size=(8, 5))
    got = mcc_loss(torch.tensor(logits), 2.5).item()
    assert got == pytest.approx(_slow_mcc(logits, 2.5), rel=1e-5)
    confident = np.eye(5)[np.arange(10) % 5] * 60.0  # one sure class each: little confusion
    assert mcc_loss(torch.tensor(confident), 2.5).item() < 1e-3 < got


def test_multilinear_map_is_the_outer_product_and_randomized_above_the_limit():
    f, g = torch.randn(3, 4), torch.softmax(torch.randn(3, 5), 1)
    m = MultilinearMap(4, 5)
    out = m(f, g)
    assert not m.randomized and out.shape == (3, 20)
    assert torch.allclose(out[1].view(5, 4), torch.outer(g[1], f[1]))
    big = MultilinearMap(512, 10, output_dim=64)
    assert big.randomized and big(torch.randn(2, 512), torch.rand(2, 10)).shape == (2, 64)
