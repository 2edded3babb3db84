"""A kill between the two files of a checkpoint: ``last.safetensors`` of epoch k+1 is on disk,
``last.json`` is still epoch k's. Resuming must continue from what the tensors are (epoch
k+1, with its optimizer and scheduler), not re-run epoch k+1 on top of its own result."""

from __future__ import annotations

import json

import torch
from torch import nn

from transferkit.training.schedule import warmup_cosine
from transferkit.training.state import load_checkpoint, save_checkpoint


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, opt, warmup_cosine(opt, 2, 20)


def _epoch(model, opt, sched, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(4):
        x, y = torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def test_resume_after_a_kill_between_the_checkpoint_files(tmp_path):
    model, opt, sched = _setup()
    _epoch(model, opt, sched, seed=0)
    save_checkpoint(tmp_path, model, opt, sched, {"epoch": 0, "history": [{"epoch": 1}]})
    stale_json = (tmp_path / "last.json").read_bytes()
    _epoch(model, opt, sched, seed=1)
    save_checkpoint(
        tmp_path, model, opt, sched, {"epoch": 1, "history": [{"epoch": 1}, {"epoch": 2}]}
    )
    (tmp_path / "last.json").write_bytes(stale_json)  # the kill came before this write
    assert json.loads(stale_json)["epoch"] == 0

    m2, o2, s2 = _setup(seed=99)
    state = load_checkpoint(tmp_path, m2, o2, s2)
    assert state["epoch"] == 1 and len(state["history"]) == 2
    assert s2.get_last_lr() == sched.get_last_lr()
    for a, b in zip(model.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    _epoch(model, opt, sched, seed=2)  # the next epoch goes on identically
    _epoch(m2, o2, s2, seed=2)
    for a, b in zip(model.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoints_without_embedded_state_still_load(tmp_path):
    """Checkpoints written before the state moved into the safetensors metadata."""
    from safetensors.torch import load_file, save_file

    model, opt, sched = _setup()
    _epoch(model, opt, sched, seed=0)
    save_checkpoint(tmp_path, model, opt, sched, {"epoch": 4, "history": []})
    path = str(tmp_path / "last.safetensors")
    save_file(load_file(path), path)  # the same tensors, no metadata
    m2, o2, s2 = _setup(seed=5)
    assert load_checkpoint(tmp_path, m2, o2, s2)["epoch"] == 4
    assert s2.get_last_lr() == sched.get_last_lr()
