"""Batched inference of a saved model over a subset of a dataset (sharded under torchrun): a
TransferModel, or an ensemble whose members each read the data with their own preprocessing."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from transferkit import distributed
from transferkit.data.base import Dataset
from transferkit.evaluation.metrics import softmax
from transferkit.features.extract import forward_batches
from transferkit.zoo.ensemble import EnsembleModel


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dataset: Dataset,
    indices: np.ndarray,
    *,
    device: torch.device | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    description: str = "predict",
    shard: bool = True,
) -> np.ndarray:
    """Logits (len(indices), K) as float32. With ``shard``, ranks split the work and gather.

    For an :class:`~transferkit.zoo.ensemble.EnsembleModel`: the log of the weighted average
    of its members' probabilities, so that ``softmax`` of the result is that average."""
    net = distributed.unwrap(model)
    if isinstance(net, EnsembleModel):
        probas = member_probabilities(
            net,
            dataset,
            indices,
            device=device,
            batch_size=batch_size,
            num_workers=num_workers,
            description=description,
            shard=shard,
        )
        return net.blend([p for p, _ in probas])
    indices = np.asarray(indices, dtype=np.int64)
    device = device or distributed.device_for("auto")
    part = indices[distributed.shard(len(indices))] if shard else indices
    logits = forward_batches(
        net,
        net,
        net.data_config,
        dataset,
        part,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        description=description,
    )
    k = net.head.out_features
    if len(logits) == 0:
        logits = np.zeros((0, k), dtype=np.float32)
    if shard and distributed.is_initialized():
        logits = np.concatenate(distributed.all_gather_object(logits))
    return logits


def member_probabilities(
    ensemble: EnsembleModel,
    dataset: Dataset,
    indices: np.ndarray,
    *,
    device: torch.device | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    description: str = "predict",
    shard: bool = True,
) -> list[tuple[np.ndarray, float]]:
    """Each member's class probabilities for ``indices`` (read with its own data config: its
    input size, normalisation or tokenizer) and the wall-clock seconds it took, in member
    order; the ensemble's prediction time is their sum."""
    out = []
    for i, member in enumerate(ensemble.members):
        start = time.perf_counter()
        logits = predict_logits(
            member,
            dataset,
            indices,
            device=device,
            batch_size=batch_size,
            num_workers=num_workers,
            description=f"{description} ({i + 1}/{len(ensemble.members)})",
            shard=shard,
        )
        out.append((softmax(logits), time.perf_counter() - start))
    return out
