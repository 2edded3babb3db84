"""Batches for any modality: what a DataLoader needs to feed a backbone.

:func:`examples` gives a torch Dataset over some indices of a transferkit Dataset and the
collate function that turns a list of its items into ``(inputs, labels)``. Images: the
transform from the backbone's data config (augmented for training) and default collation.
Text: the raw strings, tokenised in the collate with the backbone's tokenizer, truncated to its
``max_length`` and padded to the longest text of the batch (dynamic padding), so a batch of
short texts costs little. Inputs are then a tensor (images) or a dict of tensors (text);
:func:`to_device` moves either. Strategies, feature extraction and evaluation use only these,
so none of them needs to know which modality it trains on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from transferkit.data.base import Dataset, modality_problem
from transferkit.errors import UserError
from transferkit.zoo.base import DataConfig
from transferkit.zoo.transformers_common import load_tokenizer


class TextExamples(torch.utils.data.Dataset):
    """``(text, label)`` pairs for ``indices`` of a text dataset (label -1: unlabelled)."""

    def __init__(self, dataset: Dataset, indices: np.ndarray | list[int] | None) -> None:
        self.dataset = dataset
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[str, int]:
        i = int(self.indices[j])
        labels = self.dataset.labels
        return self.dataset.load(i), -1 if labels is None else int(labels[i])


class TextCollate:
    """Tokenise a list of ``(text, label)`` items: truncation to ``max_length``, padding to
    the batch's longest text. Picklable (holds the tokenizer's folder, loads it per process)."""

    def __init__(self, tokenizer: str, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, int(max_length)

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        tok = load_tokenizer(self.tokenizer)
        enc = tok(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length or None,
            return_tensors="pt",
        )
        return dict(enc)

    def __call__(
        self, items: list[tuple[str, int]]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        texts, labels = zip(*items)
        return self.encode(list(texts)), torch.tensor(labels, dtype=torch.int64)


def check_modality(data_config: DataConfig, dataset: Dataset, model: str = "The model") -> None:
    """UserError when a model of one modality is given data of another."""
    problem = modality_problem(data_config.modality, dataset, model)
    if problem:
        raise UserError(problem)


def examples(
    dataset: Dataset,
    indices: np.ndarray | list[int] | None,
    data_config: DataConfig,
    *,
    train: bool = False,
    augment: bool = True,
) -> tuple[torch.utils.data.Dataset, Callable[[list], Any] | None]:
    """A torch Dataset of ``(input, label)`` items and its collate function (None: default).

    ``train`` with ``augment`` adds the modality's augmentation (images only; text has none).
    """
    check_modality(data_config, dataset)
    if dataset.modality == "text":
        return TextExamples(dataset, indices), TextCollate(
            data_config.tokenizer, data_config.max_length
        )
    from transferkit.data.transforms import BatchTransform, ImageTorchDataset, build_transform

    transform = build_transform(data_config, train=train, augment=augment, hflip=dataset.hflip_safe)
    if not transform.augmenting:  # evaluation: small images are transformed a batch at a time
        return ImageTorchDataset(dataset, indices, None), BatchTransform(transform)
    return ImageTorchDataset(dataset, indices, transform), None


def to_device(x: Any, device: torch.device, *, channels_last: bool = False) -> Any:
    """A batch's inputs on ``device``: a tensor (optionally channels_last) or a dict of them."""
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def batch_len(x: Any) -> int:
    """The number of examples in a batch's inputs."""
    if isinstance(x, dict):
        return len(next(iter(x.values())))
    return len(x)


def truncation(
    dataset: Dataset, data_config: DataConfig, indices: np.ndarray | None = None
) -> dict[str, int] | None:
    """For text: how many of the texts at ``indices`` are longer than the model reads (they
    are truncated), out of how many, and the longest length in tokens; None for images."""
    if dataset.modality != "text" or data_config.modality != "text":
        return None
    from transferkit.data.text import count_truncated

    tok = load_tokenizer(data_config.tokenizer)
    limit = data_config.max_length or int(getattr(tok, "model_max_length", 512))
    return count_truncated(dataset, tok, limit, indices)
