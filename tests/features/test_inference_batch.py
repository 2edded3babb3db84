"""The eval forward's batch on a CPU: images go in batches of about CPU_PIXELS_PER_BATCH input
pixels (a speed rule only: the outputs are those of the batch the caller asked for)."""

from __future__ import annotations

import numpy as np
import torch

from transferkit.data import load_dataset
from transferkit.features import extract
from transferkit.features.extract import forward_batches, inference_batch
from transferkit.zoo import create_backbone
from transferkit.zoo.base import DataConfig

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_cpu_image_batches_shrink_with_the_image_and_never_grow():
    def at(px: int, asked: int = 64) -> int:
        return inference_batch(asked, DataConfig().with_size(px), CPU)

    assert [at(px) for px in (32, 64, 96, 128, 160, 224, 384)] == [64, 32, 16, 8, 8, 4, 1]
    assert at(64, asked=8) == 8  # never larger than asked
    assert inference_batch(64, DataConfig().with_size(224), CUDA) == 64  # GPUs: as asked
    text = DataConfig(modality="text", tokenizer="x", max_length=128)
    assert inference_batch(64, text, CPU) == 64


def test_the_lowered_batch_gives_the_same_outputs(monkeypatch):
    ds = load_dataset("builtin:digits")
    bb = create_backbone("tiny-cnn", pretrained=True, image_size=16)
    idx = np.arange(37)

    def run() -> np.ndarray:
        return forward_batches(
            bb.forward_features, bb, bb.data_config, ds, idx, device=CPU, batch_size=64
        )

    monkeypatch.setattr(extract, "CPU_PIXELS_PER_BATCH", 10**9)
    whole = run()  # one batch of 37
    monkeypatch.setattr(extract, "CPU_PIXELS_PER_BATCH", 4 * 16 * 16)
    assert inference_batch(64, bb.data_config, CPU) == 4
    small = run()  # ten batches
    assert whole.shape == (37, bb.num_features)
    np.testing.assert_allclose(small, whole, rtol=1e-5, atol=1e-6)
