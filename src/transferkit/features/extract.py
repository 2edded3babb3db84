"""Batched feature extraction: pooled backbone embeddings for a subset of a dataset.

The work is sharded across ranks under torchrun and gathered, so every rank gets all the
features. Already cached indices are not recomputed. On CUDA it uses channels_last and
autocast; on CPU it runs in float32, images in batches small enough to stay in cache.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed, progress
from transferkit.data.base import Dataset
from transferkit.data.batches import batch_len, examples, to_device
from transferkit.features.cache import FeatureCache
from transferkit.timing import stage
from transferkit.zoo.base import Backbone, DataConfig


def feature_key(backbone: Backbone, dataset: Dataset) -> str:
    """Cache key: backbone identity, dataset fingerprint and the eval transform's config."""
    blob = json.dumps(
        {
            "backbone": backbone.identity,
            "data": dataset.fingerprint,
            "transform": backbone.data_config.to_dict(),
            "v": 2,  # 2: batched eval transform of small images (same pixels to 1 level)
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


# On a CPU an eval forward is fastest when one batch's activations stay in cache: about 160k
# input pixels per batch. Measured on 2 EPYC cores (32 MiB L3), ms per image at batch 64 ->
# at this rule's batch: effnet-lite0 64 px 1.02 -> 0.79 (32), 96 px 2.59 -> 1.61 (16), 224 px
# 51 -> 7.4 (4); resnet18 224 px 19.9 -> 10.9 (4); vit-tiny 224 px 17.1 -> 14.9 (4)
# (benchmarks/RESULTS.md, "Speed"). In eval mode the batch does not change the outputs.
CPU_PIXELS_PER_BATCH = 160_000


def inference_batch(batch_size: int, data_config: DataConfig, device: torch.device) -> int:
    """The batch an eval forward uses: ``batch_size``, lowered on a CPU for images to the
    power of two nearest ``CPU_PIXELS_PER_BATCH`` input pixels per batch."""
    if device.type != "cpu" or data_config.modality != "image":
        return batch_size
    _, h, w = data_config.input_size
    best = 2 ** round(math.log2(max(1.0, CPU_PIXELS_PER_BATCH / (h * w))))
    return max(1, min(batch_size, best))


@torch.no_grad()
def forward_batches(
    fn: Callable[[torch.Tensor], torch.Tensor],
    module: nn.Module,
    data_config: DataConfig,
    dataset: Dataset,
    indices: np.ndarray,
    *,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
    description: str = "forward",
) -> np.ndarray:
    """``fn`` over eval-prepared examples in batches (images: the eval transform; text:
    tokenised with dynamic padding), ``module`` in eval mode on ``device`` (bf16 autocast on
    CUDA, and channels_last for images); one float32 row per index, in order."""
    order = None
    if data_config.modality == "text" and len(indices) > batch_size:
        # similar lengths in a batch: dynamic padding then pads little (undone at the end)
        order = np.argsort([len(dataset.load(int(i))) for i in indices], kind="stable")
        indices = np.asarray(indices)[order]
    items, collate = examples(dataset, indices, data_config, train=False)
    loader = DataLoader(
        items,
        batch_size=inference_batch(batch_size, data_config, device),
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        collate_fn=collate,
    )
    was_training = module.training
    module.eval().to(device)
    cuda = device.type == "cuda"
    image = data_config.modality == "image"
    if cuda and image:
        module.to(memory_format=torch.channels_last)
    # one array for all rows, filled batch by batch: a list of per-batch arrays joined at the
    # end fragments the heap (peak RSS 1.7 GiB instead of 0.8 over 200k images,
    # benchmarks/memory.py)
    result, done = None, 0
    with progress.bar(description, len(indices)) as update:
        for x, _ in loader:
            x = to_device(x, device, channels_last=cuda and image)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                rows = fn(x).float().cpu().numpy()
            if result is None:
                result = np.empty((len(indices), *rows.shape[1:]), dtype=np.float32)
            result[done : done + len(rows)] = rows
            done += len(rows)
            update(batch_len(x))
    module.train(was_training)
    result = result[:done] if result is not None else np.zeros((0, 0), dtype=np.float32)
    if order is not None:
        result[order] = result.copy()
    return result


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
    feats, missing = cache.get(key, indices) if cache is not None else (None, None)
    if missing is None:
        missing = np.ones(len(indices), dtype=bool)
    todo = np.unique(indices[missing])
    if len(todo):
        part = todo[distributed.shard(len(todo))]
        with stage("extract"):
            mine = forward_batches(
                backbone.forward_features,
                backbone,
                backbone.data_config,
                dataset,
                part,
                device=device,
                batch_size=batch_size,
                num_workers=num_workers,
                description=description,
            )
        if len(mine) == 0:
            mine = np.zeros((0, backbone.num_features), dtype=np.float32)
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
