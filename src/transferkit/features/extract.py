"""Batched feature extraction: pooled backbone embeddings for a subset of a dataset.

The work is sharded across ranks under torchrun and gathered, so every rank gets all the
features. Already cached indices are not recomputed. On CUDA it uses channels_last and
autocast; on CPU it runs in float32.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
from torch.utils.data import DataLoader

from transferkit import distributed, progress
from transferkit.data.transforms import ImageTorchDataset, build_transform
from transferkit.data.base import Dataset
from transferkit.features.cache import FeatureCache
from transferkit.zoo.base import Backbone


def feature_key(backbone: Backbone, dataset: Dataset) -> str:
    """Cache key: backbone identity, dataset fingerprint and the eval transform's config."""
    blob = json.dumps(
        {
            "backbone": backbone.identity,
            "data": dataset.fingerprint,
            "transform": backbone.data_config.to_dict(),
            "v": 1,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@torch.no_grad()
def _forward_all(
    backbone: Backbone,
    dataset: Dataset,
    indices: np.ndarray,
    device: torch.device,
    batch_size: int,
    num_workers: int,
    description: str,
) -> np.ndarray:
    transform = build_transform(backbone.data_config, train=False)
    loader = DataLoader(
        ImageTorchDataset(dataset, indices, transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    was_training = backbone.training
    backbone.eval().to(device)
    cuda = device.type == "cuda"
    if cuda:
        backbone.to(memory_format=torch.channels_last)
    out = np.empty((len(indices), backbone.num_features), dtype=np.float32)
    pos = 0
    with progress.bar(description, len(indices)) as update:
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                f = backbone.forward_features(x)
            out[pos : pos + len(x)] = f.float().cpu().numpy()
            pos += len(x)
            update(len(x))
    backbone.train(was_training)
    return out


def extract_features(
    backbone: Backbone,
    dataset: Dataset,
    indices: np.ndarray,
    *,
    device: torch.device | None = None,
    cache: FeatureCache | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    description: str = "features",
) -> np.ndarray:
    """Features (len(indices), D) as float32, from the cache where possible."""
    indices = np.asarray(indices, dtype=np.int64)
    device = device or distributed.device_for("auto")
    key = feature_key(backbone, dataset) if cache is not None else ""
    feats, missing = (cache.get(key, indices) if cache is not None else (None, None))
    if missing is None:
        missing = np.ones(len(indices), dtype=bool)
    todo = np.unique(indices[missing])
    if len(todo):
        part = todo[distributed.shard(len(todo))]
        mine = _forward_all(backbone, dataset, part, device, batch_size, num_workers, description)
        pieces = distributed.all_gather_object((part, mine))
        done_idx = np.concatenate([p for p, _ in pieces])
        done = np.concatenate([f for _, f in pieces]).astype(np.float32)
        if cache is not None and distributed.is_main():
            cache.put(key, done_idx, done)
        distributed.barrier()
        if feats is None:
            feats = np.zeros((len(indices), done.shape[1]), dtype=np.float32)
        order = np.argsort(done_idx)
        pos = np.searchsorted(done_idx[order], indices[missing])
        feats[missing] = done[order][pos]
    return feats
