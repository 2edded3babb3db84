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
        return net.blend([p for p, _ in probas[0]])
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
) -> tuple[list[tuple[np.ndarray, float]], float]:
    """Each member's class probabilities for ``indices`` (read with its own data config: its
    input size, normalisation or tokenizer) with the seconds it takes alone, in member order;
    and the seconds the whole ensemble took. Members that share a backbone
    (:meth:`~transferkit.zoo.ensemble.EnsembleModel.shared_backbones`: a linear probe's fold
    models) compute its features once and apply their own heads."""
    indices = np.asarray(indices, dtype=np.int64)
    device = device or distributed.device_for("auto")
    part = indices[distributed.shard(len(indices))] if shard else indices
    out: list[tuple[np.ndarray, float] | None] = [None] * len(ensemble.members)
    total = 0.0
    groups = ensemble.shared_backbones()
    for n, group in enumerate(groups):
        first = ensemble.members[group[0]]
        start = time.perf_counter()
        feats = forward_batches(
            first.backbone.forward_features,
            first,
            first.data_config,
            dataset,
            part,
            device=device,
            batch_size=batch_size,
            num_workers=num_workers,
            description=f"{description} ({n + 1}/{len(groups)})",
        )
        shared = time.perf_counter() - start
        total += shared
        for i in group:
            start = time.perf_counter()
            logits = _head(ensemble.members[i], feats, len(part))
            if shard and distributed.is_initialized():
                logits = np.concatenate(distributed.all_gather_object(logits))
            own = time.perf_counter() - start
            total += own
            out[i] = (softmax(logits), shared + own)
    return [x for x in out if x is not None], total


@torch.no_grad()
def _head(member: nn.Module, feats: np.ndarray, n: int) -> np.ndarray:
    """A member's logits from its backbone's features (float32 rows, one per example)."""
    k = member.head.out_features
    if n == 0:
        return np.zeros((0, k), dtype=np.float32)
    head = member.head
    weight = head.weight
    x = torch.from_numpy(np.asarray(feats, np.float32)).to(weight.device, weight.dtype)
    return head(x).float().cpu().numpy()
