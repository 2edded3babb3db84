"""Several labelled sources as one dataset, and the sampler that mixes them in each batch.

:class:`MultiSource` concatenates the sources' examples; its labels are the sources' own
labels shifted into one disjoint range per task (task ``t`` owns ``offsets[t] ..
offsets[t + 1] - 1``), so two tasks that both have a class "3" keep two classes: the heads are
per task and never merged by name.

:class:`TaskMixingSampler` draws each epoch's examples so that task ``t`` supplies exactly its
share ``p_t`` of them (largest-remainder rounding), shuffled together so every batch mixes the
tasks. The shares (:func:`mixing_shares`) follow the temperature rule used to mix corpora of
very different sizes (Arivazhagan et al., 2019, arXiv:1907.05019):

    p_t  proportional to  n_t ** (1 / T)

``T = 1`` is proportional sampling (a small task is nearly absent), ``T -> inf`` is uniform
sampling (a small task is repeated many times per epoch and overfits); temperature with
``T = 2`` sits between them. It builds on :class:`GlobalBatchSampler`: one seeded order per
epoch, the same global batches whatever the number of processes, each rank taking its part.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from transferkit.data.base import Dataset
from transferkit.training.sampling import GlobalBatchSampler

MIXING = ("temperature", "proportional", "uniform")


def mixing_shares(sizes: list[int], mixing: str, temperature: float = 2.0) -> np.ndarray:
    """Each task's share of an epoch's examples (they sum to 1)."""
    n = np.asarray(sizes, np.float64)
    if mixing == "uniform":
        w = np.ones_like(n)
    elif mixing == "proportional":
        w = n
    elif mixing == "temperature":
        w = n ** (1.0 / temperature)
    else:
        raise ValueError(f"unknown mixing {mixing!r}; one of {', '.join(MIXING)}")
    return w / w.sum()


def quotas(shares: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total``, as close to ``shares * total`` as rounding allows
    (largest remainder)."""
    exact = np.asarray(shares) * total
    out = np.floor(exact).astype(np.int64)
    rest = total - int(out.sum())
    out[np.argsort(-(exact - out), kind="stable")[:rest]] += 1
    return out


class MultiSource(Dataset):
    """Several labelled image datasets read as one, with a task id per example."""

    def __init__(self, parts: list[Dataset], names: list[str]) -> None:
        self.parts, self.task_names = parts, names
        sizes = [len(p) for p in parts]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.class_offsets = np.concatenate([[0], np.cumsum([p.num_classes for p in parts])])
        self.task = np.repeat(np.arange(len(parts)), sizes)
        self.labels = np.concatenate(
            [p.labels + off for p, off in zip(parts, self.class_offsets, strict=False)]
        ).astype(np.int64)
        self.classes = [f"{n}/{c}" for n, p in zip(names, parts, strict=True) for c in p.classes]
        self.name = " + ".join(names)
        self.modality = "image"
        self.hflip_safe = all(p.hflip_safe for p in parts)
        self.skipped = [s for p in parts for s in p.skipped]
        digest = hashlib.sha256("|".join(p.fingerprint for p in parts).encode())
        self.fingerprint = digest.hexdigest()[:16]
        self.predefined = None
        if any(p.predefined is not None for p in parts):
            self.predefined = np.concatenate(
                [
                    np.full(len(p), "", object) if p.predefined is None else p.predefined
                    for p in parts
                ]
            )

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, i: int) -> tuple[int, int]:
        """(task, index inside that task's source) of example ``i``."""
        t = int(np.searchsorted(self.starts, i, side="right") - 1)
        return t, int(i - self.starts[t])

    def load(self, i: int) -> np.ndarray:
        t, j = self.locate(i)
        return self.parts[t].load(j)

    def item_name(self, i: int) -> str:
        t, j = self.locate(i)
        return f"{self.task_names[t]}:{self.parts[t].item_name(j)}"

    def summary(self) -> dict:
        return {**super().summary(), "tasks": [p.summary() for p in self.parts]}


class TaskMixingSampler(GlobalBatchSampler):
    """Global batches over positions ``0 .. len(tasks) - 1`` of the training examples, where
    ``tasks[i]`` is position ``i``'s task: each epoch holds ``len(tasks)`` draws, task ``t``
    exactly ``quotas(shares)[t]`` of them. Within a task the examples come in seeded
    permutations (a task drawn more often than it has examples goes through them again in a
    new order), so nothing repeats before the task's examples are used up."""

    def __init__(
        self, tasks: np.ndarray, shares: np.ndarray, batch_size: int, seed: int, rank=0, world=1
    ) -> None:
        super().__init__(len(tasks), batch_size, seed, rank, world)
        self.tasks, self.shares = np.asarray(tasks), np.asarray(shares, np.float64)

    def _order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 7 + self.epoch)
        counts = quotas(self.shares, self.n)
        picked = []
        for t, k in enumerate(counts):
            pool = np.flatnonzero(self.tasks == t)
            if k == 0 or len(pool) == 0:
                continue
            rounds = -(-int(k) // len(pool))
            perms = [pool[torch.randperm(len(pool), generator=g).numpy()] for _ in range(rounds)]
            picked.append(np.concatenate(perms)[:k])
        order = np.concatenate(picked)
        return order[torch.randperm(len(order), generator=g).numpy()].tolist()
