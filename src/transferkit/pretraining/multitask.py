"""Multi-task supervised pretraining: one backbone, one linear head per labelled source
(Caruana, 1997, "Multitask Learning"), batches that mix the tasks (:mod:`.mixing`).

The loss of a batch sums the tasks present in it,

    L = sum_t w_t L_t                                  (uniform: w_t = 1; size: w_t ~ n_t)
    L = sum_t exp(-s_t) L_t + s_t,  s_t = log sigma_t^2 (uncertainty, learned)

where ``L_t`` is the cross-entropy (label smoothing 0.1) of task ``t``'s head on its examples,
and the second line is the homoscedastic-uncertainty weighting of Kendall, Gal and Cipolla
(CVPR 2018, arXiv:1705.07115): ``s_t`` is trained with the network, its effective weight
``exp(-s_t)`` is positive by construction, and the ``+ s_t`` term stops it from growing
without bound. Size weights are normalised to a mean of 1, so uniform and size differ only in
how they share the same total. Validation reports each task's accuracy and loss; the
monitored ``val_accuracy`` (best epoch, early stopping) is their unweighted mean.

Under torchrun the global batches are the same as in one process (the sampler is seeded and
each rank takes its part of every batch), but each process averages a task's loss over its own
part, so DDP's averaged gradient equals the one-process gradient in expectation, not exactly
(an exact one would need the per-task counts of the whole batch: one more collective a step).

The backbone transfers (saved as a zoo model with no source head, since the label sets
differ); the heads and the learned weights are kept in the run as ``heads.safetensors`` with
``tasks.json`` (each task's name, source, classes and final weight) for inspection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from transferkit import distributed
from transferkit.config import opt
from transferkit.data import load_dataset
from transferkit.errors import UserError
from transferkit.pretraining.base import METHODS, PretrainTask, data_sources, split_indices
from transferkit.pretraining.mixing import MIXING, MultiSource, TaskMixingSampler, mixing_shares
from transferkit.pretraining.multitask_eval import per_task_validation, save_heads, task_table

TASK_WEIGHTS = ("uniform", "uncertainty", "size")


@dataclass
class MultiTaskOptions:
    prefix = ""
    task_weights: str = opt(
        "uniform",
        "Multitask: per-task loss weights: uniform, size (by dataset size) or uncertainty "
        "(learned, Kendall et al. 2018).",
        choices=TASK_WEIGHTS,
    )
    mixing: str = opt(
        "temperature",
        "Multitask: how batches mix the tasks: temperature (n_t^(1/T)), proportional (n_t) "
        "or uniform.",
        choices=MIXING,
    )
    mixing_temperature: float = opt(
        2.0, "Multitask: T of temperature mixing (1: proportional; large: uniform).", gt=0
    )


class MultiTaskNet(nn.Module):
    """The backbone, one linear head per task, and the tasks' log-variances ``s_t`` (trained
    only with uncertainty weights). ``forward`` gives every head's logits for every example:
    each head then takes part in every step, as DDP requires."""

    def __init__(self, backbone, num_classes: list[int], learned: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleList(nn.Linear(backbone.num_features, k) for k in num_classes)
        self.log_vars = nn.Parameter(torch.zeros(len(num_classes)), requires_grad=learned)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(every head's logits, the log-variances s): s is returned through the forward pass
        so that DDP sees it used there, not only in the loss."""
        f = self.backbone.forward_features(x)
        return [head(f) for head in self.heads], self.log_vars * 1.0


def per_task_losses(logits: list[torch.Tensor], y: torch.Tensor, tasks: torch.Tensor, offsets):
    """(mean cross-entropy of each task on its examples, 0 where absent; presence mask)."""
    losses, present = [], []
    for t, out in enumerate(logits):
        mask = tasks == t
        local = (y - int(offsets[t])).clamp(0, out.shape[1] - 1)
        ce = F.cross_entropy(out.float(), local, reduction="none", label_smoothing=0.1)
        losses.append((ce * mask).sum() / mask.sum().clamp(min=1))
        present.append(mask.any().float())
    return torch.stack(losses), torch.stack(present)


def combine(losses, present, weights, log_vars: torch.Tensor | None) -> torch.Tensor:
    """The weighted sum over the tasks present: fixed ``weights``, or Kendall et al.'s
    ``exp(-s_t) L_t + s_t`` when ``log_vars`` (s) is given."""
    if log_vars is not None:
        return (present * (torch.exp(-log_vars) * losses + log_vars)).sum()
    return (present * weights * losses).sum()


def task_names(specs: list[str], names: list[str]) -> list[str]:
    """Short unique task names (lowercase letters, digits, dashes) for metrics and files."""
    out: list[str] = []
    for spec, name in zip(specs, names, strict=True):
        base = re.sub(r"[^a-z0-9]+", "-", (name or spec).lower()).strip("-") or "task"
        unique, k = base, 2
        while unique in out:
            unique, k = f"{base}-{k}", k + 1
        out.append(unique)
    return out


@METHODS.register("multitask")
class MultiTaskTask(PretrainTask):
    needs_labels = True
    min_sources = 2
    monitor = "val_accuracy"
    options = MultiTaskOptions

    @classmethod
    def check(cls, cfg) -> None:
        sources = data_sources(cfg.data)
        if len(sources) == 1:
            raise UserError(
                f"multitask pretraining needs two or more labelled sources, and --data names "
                f"one ({sources[0]}). For a single labelled source use --method supervised; "
                "for several, list them comma-separated, e.g. "
                "--data builtin:mnist5k,builtin:fashion-mnist."
            )

    @classmethod
    def load_data(cls, cfg) -> MultiSource:
        cls.check(cfg)
        specs = data_sources(cfg.data)
        if not specs:
            raise UserError("No source data given; pass --data with two or more sources.")
        parts = [load_dataset(s, strict=cfg.strict) for s in specs]
        _check_parts(specs, parts)
        return MultiSource(parts, task_names(specs, [p.name for p in parts]))

    @classmethod
    def split(cls, data: MultiSource, cfg):
        """Each source split on its own (``max_examples`` per source), so every task has its
        validation examples."""
        train, val, left_out = [], [], 0
        for t, part in enumerate(data.parts):
            tr, va, lo = split_indices(part, cfg.val_fraction, cfg.seed + t, cfg.max_examples)
            train.append(tr + data.starts[t])
            val.append(va + data.starts[t])
            left_out += lo
        return np.concatenate(train), np.concatenate(val), left_out

    def __init__(self, backbone, dataset, train, val, cfg, device) -> None:
        super().__init__(backbone, dataset, train, val, cfg, device)
        sizes = [int((dataset.task[train] == t).sum()) for t in range(len(dataset.parts))]
        self.train_sizes = sizes
        self.shares = mixing_shares(sizes, self.opts.mixing, self.opts.mixing_temperature)
        world = distributed.world_size()
        self.sampler = TaskMixingSampler(
            dataset.task[train],
            self.shares,
            self.sampler.batch_size,
            cfg.seed,
            distributed.rank(),
            world,
        )
        n = np.asarray(sizes, np.float64)
        fixed = n / n.mean() if self.opts.task_weights == "size" else np.ones_like(n)
        self.fixed_weights = torch.as_tensor(fixed, dtype=torch.float32)
        self.class_task = torch.as_tensor(np.repeat(np.arange(len(sizes)), _class_counts(dataset)))
        self.offsets = dataset.class_offsets

    def build(self) -> nn.Module:
        counts = _class_counts(self.dataset)
        return MultiTaskNet(self.backbone, counts, self.opts.task_weights == "uncertainty")

    def compute_loss(self, model, batch, device) -> torch.Tensor:
        x, y = batch[0].to(device), batch[1].to(device)
        tasks = self.class_task.to(device)[y]
        logits, log_vars = model(x)
        losses, present = per_task_losses(logits, y, tasks, self.offsets)
        learned = log_vars if self.opts.task_weights == "uncertainty" else None
        return combine(losses, present, self.fixed_weights.to(device), learned)

    def effective_weights(self) -> list[float]:
        """Each task's current loss weight: exp(-s_t) when learned, else the fixed one."""
        if self.opts.task_weights == "uncertainty":
            return torch.exp(-self.model.log_vars.detach().float().cpu()).tolist()
        return self.fixed_weights.tolist()

    def validate(self, model, device) -> dict[str, float]:
        # rank 0's numbers on every rank, so that they agree on the best epoch
        return distributed.broadcast_object(per_task_validation(self, model, device))

    def save_artifacts(self, rec) -> None:
        save_heads(self, rec)

    def record_extras(self) -> dict:
        return {
            "tasks": task_table(self),
            "mixing": self.opts.mixing,
            "task_weights": self.opts.task_weights,
        }


def _class_counts(dataset: MultiSource) -> list[int]:
    return [p.num_classes for p in dataset.parts]


def _check_parts(specs: list[str], parts) -> None:
    """Refuse sources of different modalities, text sources, and sources without labels."""
    kinds = {p.modality for p in parts}
    if len(kinds) > 1:
        listing = ", ".join(f"{s} ({p.modality})" for s, p in zip(specs, parts, strict=True))
        raise UserError(
            f"multitask sources must all hold one modality, and these mix {' and '.join(sorted(kinds))}: "
            f"{listing}. Pass only the image sources in --data (multitask pretraining "
            "trains one image backbone)."
        )
    if kinds != {"image"}:
        raise UserError(
            f"pretrain works on images; {', '.join(specs)} hold {kinds.pop()} data. For text, "
            "start from a pretrained encoder (minilm-l6, hf:PATH) and use `transferkit fit`."
        )
    for spec, p in zip(specs, parts, strict=True):
        if p.labels is None or p.num_classes < 2:
            what = "no labels" if p.labels is None else "a single class"
            raise UserError(
                f"multitask pretraining needs labels in every source, and {spec} has {what}. "
                "Give it labels (a folder with one sub-folder per class, or a label column), "
                "or leave it out of --data (an unlabelled source can be pretrained on alone "
                "with --method autoencoder, vae or contrastive)."
            )
