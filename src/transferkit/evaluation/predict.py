"""Batched inference of a TransferModel over a subset of a dataset (sharded under torchrun)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed, progress
from transferkit.data.base import Dataset
from transferkit.data.transforms import ImageTorchDataset, build_transform


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
    was_training = net.training
    net.eval().to(device)
    transform = build_transform(net.data_config, train=False)
    loader = DataLoader(ImageTorchDataset(dataset, part, transform), batch_size=batch_size,
                        num_workers=num_workers, pin_memory=device.type == "cuda")
    cuda = device.type == "cuda"
    out = []
    with progress.bar(description, len(part)) as update:
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                out.append(net(x).float().cpu().numpy())
            update(len(x))
    net.train(was_training)
    k = net.head.out_features
    logits = np.concatenate(out) if out else np.zeros((0, k), dtype=np.float32)
    if shard and distributed.is_initialized():
        logits = np.concatenate(distributed.all_gather_object(logits))
    return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
