"""Checkpoints of a training run without pickle: tensors in safetensors, the rest in JSON.

A checkpoint holds the model, the optimizer (its tensors flattened to safetensors keys, its
structure in JSON), the scheduler and the loop's :class:`LoopState` (the epoch, the history and
the early-stopping state), its fields saved as they are. The task's own state (e.g. which blocks
are frozen) is not saved: tasks derive it from the epoch alone
(:meth:`~transferkit.training.task.Task.on_epoch_start`). The non-tensor state is stored twice: in the
metadata of ``last.safetensors`` (one atomic file, so the tensors and the epoch they belong to
can never come from different epochs, even when the process is killed between the two writes)
and in ``last.json`` beside it, for people and tools. Loading trusts the safetensors file;
``last.json`` is only read for checkpoints written before the state moved into the metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from transferkit.store.artifacts import atomic_save_tensors, atomic_write_json
from transferkit.zoo.checkpoint import _unshare

LAST = "last"
BEST = "best"
STATE_KEY = "transferkit.state"  # safetensors metadata entry holding the JSON state


@dataclass
class LoopState:
    """Where a training run stands after an epoch: what the loop carries from one epoch to the
    next and what a resume needs besides the tensors. Saved as it is (``dataclasses.asdict``)."""

    epoch: int = -1  # the last finished epoch, from 0; -1 before the first
    history: list[dict[str, float]] = field(default_factory=list)  # each epoch's metrics
    best: dict[str, float] | None = None  # the best epoch's metrics so far
    best_epoch: int = -1  # from 0
    bad_epochs: int = 0  # epochs since the best one: early stopping's patience count

    @property
    def next_epoch(self) -> int:
        return self.epoch + 1

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> LoopState:
        """The state a checkpoint's JSON holds. Checkpoints of every earlier version stored
        these same five keys (under these names), so they resume too."""
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})


def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optimizer.{pid}.{k}"] = v
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optimizer."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for pid, st in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(st)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
) -> None:
    """Write ``last.safetensors`` (tensors and state) then ``last.json`` into ``folder``."""
    folder = Path(folder)
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors = {f"model.{k}": v for k, v in _unshare(model.state_dict()).items()}
    tensors.update(opt_tensors)
    meta = {"optimizer": opt_meta, "scheduler": scheduler.state_dict(), **state}
    atomic_save_tensors(
        folder / f"{LAST}.safetensors",
        tensors,
        metadata={STATE_KEY: json.dumps(meta, sort_keys=True)},
    )
    atomic_write_json(folder / f"{LAST}.json", meta)


def _saved_state(folder: Path) -> dict[str, Any] | None:
    """The state stored with the tensors of the last checkpoint (or, for an older checkpoint
    without it, ``last.json``); None when there is no checkpoint."""
    tensors_path = folder / f"{LAST}.safetensors"
    if not tensors_path.is_file():
        return None
    with safe_open(str(tensors_path), framework="pt") as f:
        text = (f.metadata() or {}).get(STATE_KEY)
    if text is not None:
        return json.loads(text)
    meta_path = folder / f"{LAST}.json"
    return json.loads(meta_path.read_text()) if meta_path.is_file() else None


def load_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any] | None:
    """Restore model, optimizer and scheduler; returns the saved state, or None if absent."""
    folder = Path(folder)
    meta = _saved_state(folder)
    if meta is None:
        return None
    tensors = load_file(str(folder / f"{LAST}.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta.pop("optimizer")))
    scheduler.load_state_dict(meta.pop("scheduler"))
    return meta


def save_best(folder: Path, model: torch.nn.Module) -> None:
    atomic_save_tensors(Path(folder) / f"{BEST}.safetensors", _unshare(model.state_dict()))


def load_best(folder: Path, model: torch.nn.Module) -> bool:
    p = Path(folder) / f"{BEST}.safetensors"
    if not p.is_file():
        return False
    model.load_state_dict(load_file(str(p)))
    return True
