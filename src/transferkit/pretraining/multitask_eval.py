"""Multi-task pretraining's validation per task and what it keeps in the run (the heads, the
tasks' label sets and weights), apart from the method itself (:mod:`.multitask`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_tensors
from torch.nn import functional as F
from torch.utils.data import DataLoader

from transferkit import distributed
from transferkit.pretraining.base import data_sources


@torch.no_grad()
def per_task_validation(task: Any, model: torch.nn.Module, device: torch.device) -> dict:
    """``val_accuracy_<task>`` and ``val_loss_<task>`` for every task with validation
    examples, their unweighted means ``val_accuracy`` / ``val_loss`` (what best epoch and
    early stopping read) and each task's current loss weight ``weight_<task>``."""
    names = task.dataset.task_names
    weights = {f"weight_{n}": w for n, w in zip(names, task.effective_weights(), strict=True)}
    if len(task.val_idx) == 0:
        return {"val_loss": 0.0, "val_score": 0.0, "val_accuracy": 0.0, **weights}
    net = distributed.unwrap(model)
    was = net.training
    net.eval()
    loader = DataLoader(
        task.val_examples(), batch_size=task.cfg.batch_size, num_workers=task.cfg.num_workers
    )
    k = len(names)
    correct, loss, count = np.zeros(k), np.zeros(k), np.zeros(k)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        tasks = task.class_task.to(device)[y]
        for t, out in enumerate(net(x)[0]):
            mask = tasks == t
            if not bool(mask.any()):
                continue
            local = y[mask] - int(task.offsets[t])
            logits = out[mask].float()
            correct[t] += float((logits.argmax(1) == local).sum())
            loss[t] += float(F.cross_entropy(logits, local, reduction="sum"))
            count[t] += int(mask.sum())
    net.train(was)
    seen = count > 0
    acc, ce = correct[seen] / count[seen], loss[seen] / count[seen]
    metrics = {"val_accuracy": float(acc.mean()), "val_loss": float(ce.mean())}
    metrics["val_score"] = metrics["val_accuracy"]
    for t in np.flatnonzero(seen):
        metrics[f"val_accuracy_{names[t]}"] = float(correct[t] / count[t])
        metrics[f"val_loss_{names[t]}"] = float(loss[t] / count[t])
    return {**metrics, **weights}


def task_table(task: Any) -> list[dict[str, Any]]:
    """One row per task: its name, source, label set, examples, epoch share and final weight."""
    data, specs = task.dataset, data_sources(task.cfg.data)
    n_val = [int((data.task[task.val_idx] == t).sum()) for t in range(len(data.parts))]
    rows = []
    for t, part in enumerate(data.parts):
        rows.append(
            {
                "name": data.task_names[t],
                "source": specs[t] if t < len(specs) else part.name,
                "fingerprint": part.fingerprint,
                "classes": list(part.classes),
                "train": task.train_sizes[t],
                "val": n_val[t],
                "share": float(task.shares[t]),
                "weight": float(task.effective_weights()[t]),
            }
        )
    return rows


def save_heads(task: Any, rec: Any) -> None:
    """``heads.safetensors`` (``<task>.weight`` / ``<task>.bias`` per head, ``log_vars``) and
    ``tasks.json`` (:func:`task_table`) in the run folder, for inspection."""
    net = task.model
    tensors = {"log_vars": net.log_vars.detach().cpu().contiguous()}
    for name, head in zip(task.dataset.task_names, net.heads, strict=True):
        tensors[f"{name}.weight"] = head.weight.detach().cpu().contiguous()
        tensors[f"{name}.bias"] = head.bias.detach().cpu().contiguous()
    rec.write_bytes("heads.safetensors", save_tensors(tensors))
    rec.write_json("tasks.json", task_table(task))
