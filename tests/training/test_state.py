"""Checkpoints restore model, optimizer and scheduler exactly, without pickle."""

from __future__ import annotations

import torch
from torch import nn

from transferkit.training.schedule import warmup_cosine
from transferkit.training.state import load_checkpoint, save_checkpoint


def _setup(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = warmup_cosine(opt, 2, 20)
    return model, opt, sched


def _steps(model, opt, sched, n, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x = torch.randn(16, 4, generator=g)
        y = torch.randint(0, 3, (16,), generator=g)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def test_resume_from_checkpoint_is_exact(tmp_path):
    m1, o1, s1 = _setup()
    _steps(m1, o1, s1, 5, seed=1)
    save_checkpoint(tmp_path, m1, o1, s1, {"epoch": 0, "history": []})
    _steps(m1, o1, s1, 5, seed=2)

    m2, o2, s2 = _setup(seed=99)  # different init: everything must come from the checkpoint
    state = load_checkpoint(tmp_path, m2, o2, s2)
    assert state["epoch"] == 0
    _steps(m2, o2, s2, 5, seed=2)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert s1.get_last_lr() == s2.get_last_lr()


def test_checkpoint_files_are_safetensors_and_json(tmp_path):
    m, o, s = _setup()
    _steps(m, o, s, 1, seed=0)
    save_checkpoint(tmp_path, m, o, s, {"epoch": 3})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["last.json", "last.safetensors"]
    assert load_checkpoint(tmp_path / "missing", m, o, s) is None
