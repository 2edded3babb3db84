"""Batch sampling that gives the same global batches with one process or many.

Each epoch draws one seeded permutation of the training indices (or a class-balanced draw
with replacement). Global batch ``k`` is the same set of examples whatever the world size;
under torchrun each rank takes an equal contiguous part of it, so DDP's averaged gradient is
the single-process gradient. Each example's augmentation is seeded by (seed, epoch, index),
so resuming a run or changing the number of workers or processes replays the same views.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Sampler


def example_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + index * 7_919) % (2**31 - 1)


class SeededExamples(TorchDataset):
    """Wraps a map-style dataset; seeds Python, NumPy and torch before each example."""

    def __init__(self, inner: TorchDataset, seed: int) -> None:
        self.inner, self.seed, self.epoch = inner, seed, 0

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        s = example_seed(self.seed, self.epoch, i)
        random.seed(s)
        np.random.seed(s)
        # the CPU generator only, where transforms draw: torch.manual_seed also seeds every
        # accelerator's generator (~1 ms per call on a CPU machine: 10% of a 64 px epoch)
        torch.default_generator.manual_seed(s)
        return self.inner[i]


class GlobalBatchSampler(Sampler[list[int]]):
    """Yields this rank's share of each global batch (positions into the wrapped dataset)."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        class_weights: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} is not divisible by {world} processes")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world, self.epoch = rank, world, 0
        self.drop_last = drop_last  # only full global batches (statistics need a whole batch)
        self.sample_weights = None
        if class_weights is not None and labels is not None:
            self.sample_weights = torch.as_tensor(class_weights[labels], dtype=torch.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 7 + self.epoch)
        if self.sample_weights is not None:
            return torch.multinomial(self.sample_weights, self.n, True, generator=g).tolist()
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            usable = len(batch) - len(batch) % self.world
            if usable == 0 or (self.drop_last and len(batch) < self.batch_size):
                continue
            per = usable // self.world
            yield batch[self.rank * per : (self.rank + 1) * per]

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest >= self.world and not self.drop_last else 0)
