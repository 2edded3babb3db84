"""The adaptation losses, as plain functions of feature / logit batches (torch, differentiable).

Each has a golden test against a direct, slow implementation of the paper's formula.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Bandwidths of the multi-kernel family, as multiples of the median pairwise distance.
MK_SCALES = (0.5, 2**-0.5, 1.0, 2**0.5, 2.0)


def pairwise_sq_distances(z: torch.Tensor) -> torch.Tensor:
    sq = (z * z).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)


def median_distance(sq: torch.Tensor) -> torch.Tensor:
    """The median heuristic: median Euclidean distance between distinct points (no gradient).
    The same definition as :func:`transferkit.transferability.similarity.median_bandwidth`."""
    n = sq.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=sq.device)
    d = sq.detach()[iu[0], iu[1]].sqrt()
    med = torch.quantile(d.float(), 0.5) if d.numel() else d.new_tensor(0.0)
    return torch.where(med > 0, med, med.new_tensor(1.0))


def mk_mmd2(x: torch.Tensor, y: torch.Tensor, scales=MK_SCALES) -> torch.Tensor:
    r"""Multi-kernel MMD^2 (Long, Cao, Wang, Jordan, "Learning Transferable Features with Deep
    Adaptation Networks", ICML 2015, eq. 2-3):

        d_k^2(p, q) = || E_p[\phi(x)] - E_q[\phi(y)] ||^2_{H_k},   k = \sum_u \beta_u k_u

    with Gaussian kernels k_u(a, b) = exp(-||a - b||^2 / (2 \sigma_u^2)), \sigma_u = s_u times
    the median pairwise distance of the pooled batch, and equal weights \beta_u = 1/U (DAN
    learns \beta by a quadratic programme; equal weights are TLlib's and most re-implementations'
    choice). Estimated with the unbiased quadratic-time statistic of Gretton et al. (JMLR 2012,
    Lemma 6) on the batch, so it is 0 in expectation for equal distributions."""
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("MMD needs at least two examples from each domain")
    z = torch.cat([x, y]).float()
    sq = pairwise_sq_distances(z)
    med = median_distance(sq)
    k = sum(torch.exp(-sq / (2.0 * (s * med) ** 2)) for s in scales) / len(scales)
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return sxx + syy - 2.0 * kxy.mean()


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Sample covariance (n - 1 in the denominator), as in Deep CORAL eq. 2-3."""
    n = x.shape[0]
    ones = x.new_ones(1, n)
    s = ones @ x
    return (x.T @ x - s.T @ s / n) / (n - 1)


def coral_loss(xs: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    r"""Deep CORAL (Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain
    Adaptation", ECCV-W 2016, eq. 1):  \ell_CORAL = 1/(4 d^2) || C_S - C_T ||_F^2."""
    if xs.shape[0] < 2 or xt.shape[0] < 2:
        raise ValueError("CORAL needs at least two examples from each domain")
    d = xs.shape[1]
    diff = covariance(xs.float()) - covariance(xt.float())
    return (diff * diff).sum() / (4.0 * d * d)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of each row of probabilities (nats)."""
    return -(p * torch.log(p.clamp_min(1e-12))).sum(1)


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    r"""Minimum Class Confusion (Jin, Wang, Long, Wang, "Minimum Class Confusion for Versatile
    Domain Adaptation", ECCV 2020, eq. 1-7) on a batch of target logits:

        \hat Y = softmax(Z / T);   W_ii = B (1 + exp(-H(\hat y_i))) / \sum_j (1 + exp(-H(\hat y_j)))
        C = \hat Y^T W \hat Y;     \tilde C_{jj'} = C_{jj'} / \sum_{j''} C_{jj''}
        L_MCC = (1/K) \sum_j \sum_{j' != j} |\tilde C_{jj'}|
    """
    b, k = logits.shape
    p = F.softmax(logits.float() / temperature, dim=1)
    w = 1.0 + torch.exp(-entropy(p).detach())
    w = b * w / w.sum()
    c = (p * w[:, None]).T @ p
    c = c / c.sum(1, keepdim=True)
    return (c.sum() - c.trace()) / k
