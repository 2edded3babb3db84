"""Multi-task pretraining's pieces: the task mixing sampler, the per-task heads over sources
whose label sets overlap in name, and the fixed and learned (uncertainty) task weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from transferkit.data.base import ArrayDataset
from transferkit.pretraining.base import data_sources
from transferkit.pretraining.mixing import MultiSource, TaskMixingSampler, mixing_shares, quotas
from transferkit.pretraining.multitask import MultiTaskNet, combine, per_task_losses, task_names
from transferkit.zoo import create_backbone

SIZES = [30, 120, 50]


def _tasks(sizes=SIZES) -> np.ndarray:
    # the tasks' positions interleaved, as a split of concatenated sources leaves them
    return np.random.default_rng(0).permutation(np.repeat(np.arange(len(sizes)), sizes))


def test_mixing_shares_follow_their_rules():
    n = np.asarray(SIZES, float)
    assert mixing_shares(SIZES, "proportional") == pytest.approx(n / n.sum())
    assert mixing_shares(SIZES, "uniform") == pytest.approx(np.full(3, 1 / 3))
    root = np.sqrt(n)
    assert mixing_shares(SIZES, "temperature", 2.0) == pytest.approx(root / root.sum())
    assert mixing_shares(SIZES, "temperature", 1.0) == pytest.approx(n / n.sum())
    # a high temperature approaches uniform
    assert mixing_shares(SIZES, "temperature", 1e6) == pytest.approx(np.full(3, 1 / 3), abs=1e-4)
    q = quotas(np.array([1 / 3, 1 / 3, 1 / 3]), 200)
    assert q.sum() == 200 and set(q) <= {66, 67}


@pytest.mark.parametrize("mixing", ["proportional", "uniform", "temperature"])
def test_each_epoch_holds_every_task_in_the_proportion_asked(mixing):
    tasks = _tasks()
    shares = mixing_shares(SIZES, mixing)
    sampler = TaskMixingSampler(tasks, shares, batch_size=16, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        drawn = np.concatenate(batches)
        assert len(drawn) == len(tasks)
        counts = np.bincount(tasks[drawn], minlength=3)
        assert counts.tolist() == quotas(shares, len(tasks)).tolist()
        assert np.all(np.abs(counts / len(tasks) - shares) <= 1 / len(tasks))
        # batches mix the tasks rather than taking them one after the other
        assert np.mean([len(set(tasks[b])) > 1 for b in batches]) > 0.8
        # a task drawn less often than it has examples repeats none of them
        for t in range(3):
            mine = drawn[tasks[drawn] == t]
            if counts[t] <= SIZES[t]:
                assert len(set(mine)) == len(mine)
            else:  # oversampled: every example used
                assert set(mine) == set(np.flatnonzero(tasks == t))


def test_mixing_is_seeded_and_the_same_global_batches_under_two_processes():
    tasks, shares = _tasks(), mixing_shares(SIZES, "uniform")
    one = TaskMixingSampler(tasks, shares, 16, seed=5)
    again = TaskMixingSampler(tasks, shares, 16, seed=5)
    other = TaskMixingSampler(tasks, shares, 16, seed=6)
    ranks = [TaskMixingSampler(tasks, shares, 16, seed=5, rank=r, world=2) for r in (0, 1)]
    for s in (one, again, other, *ranks):
        s.set_epoch(1)
    assert list(one) == list(again) and list(one) != list(other)
    for whole, a, b in zip(list(one), *[list(r) for r in ranks], strict=False):
        assert sorted(whole) == sorted(a + b)


def _source(classes: list[str], n: int, seed: int, name: str) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    return ArrayDataset(
        rng.integers(0, 255, (n, 8, 8), dtype=np.uint8),
        np.arange(n) % len(classes),
        classes,
        name=name,
        fingerprint=f"fp{seed}",
    )


def test_each_task_keeps_its_own_head_and_label_set():
    a, b = _source(["0", "1"], 10, 0, "digits"), _source(["0", "1", "2"], 12, 1, "digits")
    names = task_names(["builtin:digits", "other/digits"], [a.name, b.name])
    assert names == ["digits", "digits-2"]
    data = MultiSource([a, b], names)
    # classes "0" and "1" of the two tasks stay five distinct classes, never merged by name
    assert data.classes == ["digits/0", "digits/1", "digits-2/0", "digits-2/1", "digits-2/2"]
    assert len(data) == 22 and data.task.tolist() == [0] * 10 + [1] * 12
    assert data.labels[10:].tolist() == (np.arange(12) % 3 + 2).tolist()
    assert np.array_equal(data.load(12), b.load(2))
    assert data.item_name(12) == "digits-2:2"
    net = MultiTaskNet(create_backbone("tiny-cnn", image_size=8), [2, 3], learned=False)
    out, log_vars = net(torch.randn(4, 3, 8, 8))
    assert [o.shape for o in out] == [(4, 2), (4, 3)] and log_vars.tolist() == [0.0, 0.0]


def test_per_task_losses_and_their_weighted_sum():
    torch.manual_seed(0)
    logits = [torch.randn(5, 2), torch.randn(5, 3)]
    y = torch.tensor([0, 1, 2, 4, 3])  # global labels: task 0 owns 0-1, task 1 owns 2-4
    tasks = torch.tensor([0, 0, 1, 1, 1])
    losses, present = per_task_losses(logits, y, tasks, [0, 2])
    ce0 = F.cross_entropy(logits[0][:2], y[:2], label_smoothing=0.1)
    ce1 = F.cross_entropy(logits[1][2:], y[2:] - 2, label_smoothing=0.1)
    assert losses.tolist() == pytest.approx([ce0.item(), ce1.item()], rel=1e-5)
    w = torch.tensor([0.5, 1.5])
    assert combine(losses, present, w, None).item() == pytest.approx(
        0.5 * ce0.item() + 1.5 * ce1.item(), rel=1e-5
    )
    s = torch.tensor([0.3, -0.2])
    kendall = sum(np.exp(-s[t].item()) * losses[t].item() + s[t].item() for t in range(2))
    assert combine(losses, present, w, s).item() == pytest.approx(kendall, rel=1e-5)
    # a task absent from the batch adds nothing (neither its loss nor its s_t)
    only0 = torch.tensor([0, 0, 0, 1, 1])
    losses, present = per_task_losses(logits, torch.tensor([0, 1, 0, 1, 1]), only0 * 0, [0, 2])
    assert present.tolist() == [1.0, 0.0] and losses[1].item() == 0.0
    assert combine(losses, present, w, s).item() == pytest.approx(
        np.exp(-0.3) * losses[0].item() + 0.3, rel=1e-5
    )


def test_uncertainty_weights_are_learned_and_stay_positive():
    # two tasks whose losses stay at 0.5 and 4.0: the learned weights exp(-s_t) move from 1
    # towards the optimum 1 / L_t of Kendall et al.'s loss, and never leave (0, inf)
    net = MultiTaskNet(create_backbone("tiny-cnn", image_size=8), [2, 2], learned=True)
    opt = torch.optim.Adam([net.log_vars], lr=0.05)
    losses, present = torch.tensor([0.5, 4.0]), torch.ones(2)
    seen = []
    for _ in range(400):
        opt.zero_grad()
        combine(losses, present, None, net.log_vars).backward()
        opt.step()
        seen.append(torch.exp(-net.log_vars.detach()).clone())
    seen = torch.stack(seen)
    assert bool((seen > 0).all())
    assert seen[-1].tolist() == pytest.approx([2.0, 0.25], rel=0.05)
    assert seen[-1][0] > 1.5 and seen[-1][1] < 0.4  # the easy task gains weight, the hard loses
    fixed = MultiTaskNet(create_backbone("tiny-cnn", image_size=8), [2, 2], learned=False)
    assert not fixed.log_vars.requires_grad


def test_data_sources_reads_a_comma_separated_list(tmp_path):
    assert data_sources("builtin:mnist5k, builtin:fashion-mnist") == [
        "builtin:mnist5k",
        "builtin:fashion-mnist",
    ]
    assert data_sources("builtin:digits") == ["builtin:digits"]
    assert data_sources("") == []
    odd = tmp_path / "a,b.npz"
    odd.write_bytes(b"")
    assert data_sources(str(odd)) == [str(odd)]  # an existing path is one source
