"""Batched inference of a TransferModel over a subset of a dataset (sharded under torchrun)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from transferkit import distributed
from transferkit.data.base import Dataset
from transferkit.evaluation.metrics import softmax  # noqa: F401  (re-exported)
from transferkit.features.extract import forward_batches


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
    """Logits (len(indices), K) as float32. With ``shard``, ranks split the work and gather."""
    indices = np.asarray(indices, dtype=np.int64)
    device = device or distributed.device_for("auto")
    part = indices[distributed.shard(len(indices))] if shard else indices
    net = distributed.unwrap(model)
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
