"""``contrastive``: SetFit-style few-shot transfer - contrastive fine-tuning of the encoder on
pairs of labelled examples, then a logistic-regression head on its new embeddings.

SetFit (Tunstall et al., 2022, "Efficient Few-Shot Learning Without Prompts",
arXiv:2209.11055) turns K labelled examples per class into many pairs: same class (target 1)
and different classes (target 0), and fine-tunes a sentence encoder with the cosine-similarity
loss  L = (cos(f(a), f(b)) - t)^2  (Siamese training as in Sentence-BERT). Embeddings of one
class then cluster, and a simple head separates them. Here each epoch draws, for every
training example, one partner of its own class and one of another class (seeded by seed and
epoch); the default 15 epochs give 30 pairs per example, close to SetFit's 20 iterations x 2.
The encoder trains at one learning rate (SetFit's 2e-5 for text) in the shared loop, with
early stopping on the nearest-class-mean accuracy of the validation examples. The head is the
``linear`` strategy on the fine-tuned embeddings (C chosen on validation, refitted on train +
validation); the validation metrics reported are those of the train-only head.

On a CPU the pairs are what cost: an epoch runs 4N texts through the encoder (two pairs of two
per example) where fine-tuning runs N. ``--contrastive-pair-length`` trains the pairs on texts
cut to fewer tokens (the head still reads the model's full length): at 64 tokens an epoch of
pairs costs about what a fine-tuning epoch at 256 does, so the automatic search runs it as an
early trial on text (:attr:`Contrastive.search_pair_length`) whose epochs weigh about as much as
the other trials' at the same rung of successive halving. A search's low rungs may cut the
texts further for an epoch (:func:`~transferkit.strategies.base.epoch_length`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed
from transferkit.config import opt
from transferkit.data.batches import TextCollate, examples, to_device
from transferkit.features.extract import forward_batches
from transferkit.strategies.base import (
    STRATEGIES,
    FitContext,
    Strategy,
    StrategyResult,
    epoch_length,
)
from transferkit.strategies.linear import Linear
from transferkit.training.sampling import GlobalBatchSampler
from transferkit.training.schedule import adamw_warmup_cosine

SCALE = 20.0  # cosine logits for the validation loss (sentence-transformers' usual scale)


@dataclass
class ContrastiveOptions:
    pair_length: int | None = opt(
        None,
        "contrastive: text, the most tokens per text in the pair training (fewer is cheaper; "
        "the head reads the model's full length); default: the model's own limit.",
        min=2,
    )


def draw_pairs(labels: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """(2N, 3) rows ``(a, b, target)`` over positions 0..N-1: per example one partner of its
    class (itself when it is alone in it) with target 1 and one of another class with 0."""
    rng = np.random.default_rng([seed, epoch, 7])
    n = len(labels)
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    rows = []
    for i in range(n):
        same = by_class[labels[i]]
        others = same[same != i]
        pos = int(rng.choice(others)) if len(others) else i
        neg_pool = np.flatnonzero(labels != labels[i])
        rows.append((i, pos, 1))
        rows.append((i, int(rng.choice(neg_pool)), 0))
    return np.asarray(rows, dtype=np.int64)


class Pairs(torch.utils.data.Dataset):
    """Pairs of training examples for one epoch; ``set_epoch`` draws them again."""

    def __init__(self, items: torch.utils.data.Dataset, labels: np.ndarray, seed: int) -> None:
        self.items, self.labels, self.seed = items, labels, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.pairs = draw_pairs(self.labels, self.seed, epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, j: int):
        a, b, t = (int(v) for v in self.pairs[j])
        return self.items[a][0], self.items[b][0], t


class PairCollate:
    """One batch of 2B inputs (all first members, then all second ones) and the targets."""

    def __init__(self, collate) -> None:
        self.collate = collate or torch.utils.data.default_collate

    def __call__(self, batch):
        firsts, seconds, targets = zip(*batch)
        x, _ = self.collate([(v, 0) for v in (*firsts, *seconds)])
        return x, torch.tensor(targets, dtype=torch.float32)


class ContrastiveTask:
    """Siamese cosine-similarity training of the backbone alone (see ``training.loop.Task``)."""

    def __init__(self, ctx: FitContext, lr: float, pair_length: int | None = None) -> None:
        self.ctx, self.opts, self.lr = ctx, ctx.config.train, lr
        self.model = ctx.backbone
        tr = ctx.splits.train
        items, collate = examples(
            ctx.dataset, tr, self.model.data_config, train=True, augment=self.opts.augment
        )
        self.pairs = Pairs(items, ctx.labels(tr), ctx.config.seed)
        self.collate = PairCollate(collate)
        self.text = collate if isinstance(collate, TextCollate) else None
        self.pair_length = pair_length
        n = len(self.pairs)
        self.sampler = GlobalBatchSampler(
            n,
            min(self.opts.batch_size, n - n % distributed.world_size()),
            ctx.config.seed,
            distributed.rank(),
            distributed.world_size(),
        )

    def configure(self, steps_per_epoch: int, epochs: int):
        return adamw_warmup_cosine(
            [(self.model, self.lr)],
            weight_decay=0.01,
            warmup_epochs=self.opts.warmup_epochs,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            trainable_only=True,
        )

    def on_epoch_start(self, epoch: int) -> None:
        self.pairs.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        if self.text is not None:  # the DataLoader of each epoch takes this collate
            self.text.max_length = epoch_length(self.ctx, epoch, self.pair_length) or 0

    def steps_per_epoch(self) -> int:
        return len(self.sampler)

    def train_batches(self):
        return DataLoader(
            self.pairs,
            batch_sampler=self.sampler,
            collate_fn=self.collate,
            num_workers=self.opts.num_workers,
        )

    def train_mode(self, model: nn.Module) -> None:
        model.train()

    def loss(self, model: nn.Module, batch, device: torch.device) -> torch.Tensor:
        x, target = batch
        f = model(to_device(x, device)).float()
        half = len(target)
        cos = nn.functional.cosine_similarity(f[:half], f[half:], dim=-1)
        return nn.functional.mse_loss(cos, target.to(device))

    def _embed(self, indices: np.ndarray, device: torch.device) -> torch.Tensor:
        b = self.model
        f = forward_batches(
            b.forward_features,
            b,
            b.data_config,
            self.ctx.dataset,
            indices,
            device=device,
            batch_size=self.opts.batch_size * 2,
            description="validate",
        )
        return nn.functional.normalize(torch.from_numpy(f), dim=-1)

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Nearest-class-mean accuracy (cosine) of validation examples, train means."""
        va, tr = self.ctx.splits.val, self.ctx.splits.train
        if len(va) == 0:
            return {}
        ftr, fva = self._embed(tr, device), self._embed(va, device)
        ytr, yva = (torch.as_tensor(self.ctx.labels(i)) for i in (tr, va))
        k = self.ctx.num_classes
        means = torch.zeros(k, ftr.shape[1]).index_add_(0, ytr, ftr)
        logits = SCALE * fva @ nn.functional.normalize(means, dim=-1).T
        logits[:, torch.bincount(ytr, minlength=k) == 0] = -1e4
        return {
            "val_accuracy": float((logits.argmax(1) == yva).float().mean()),
            "val_loss": float(nn.functional.cross_entropy(logits, yva)),
        }


@STRATEGIES.register("contrastive")
class Contrastive(Strategy):
    """SetFit-style: contrastive pair fine-tuning, then a logistic-regression head."""

    default_lr = {"image": 1e-4, "text": 2e-5}
    options = ContrastiveOptions
    trains_backbone = True
    search_role = "trained"
    searched_for = ("text",)  # images: only when asked for (--strategies contrastive)
    search_order = 70
    search_lr = {"image": (1e-5, 1e-3), "text": (5e-6, 2e-4)}
    search_pair_length = 64  # text trials: pairs of 64-token texts (see the module docstring)

    @classmethod
    def search_options(cls, trial: Any, modality: str) -> dict[str, Any]:
        """The learning rate; on text, also the pair length of a trial (fixed, not sampled:
        :attr:`search_pair_length`), so a trial's epoch costs about a fine-tuning epoch."""
        params = super().search_options(trial, modality)
        if modality == "text":
            params["contrastive_pair_length"] = cls.search_pair_length
        return params

    @classmethod
    def search_overrides(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The pair length of a text trial, as ``--contrastive-pair-length``."""
        n = params.get("contrastive_pair_length")
        return {"contrastive_pair_length": int(n)} if n else {}

    def fit(self, ctx: FitContext) -> StrategyResult:
        task = ContrastiveTask(
            ctx, lr=self.learning_rate(ctx), pair_length=self.opts(ctx).pair_length
        )
        result = self.train(task, ctx)
        ctx.backbone.invalidate_identity()
        # the head: a linear probe of the fine-tuned embeddings (not cached: used once)
        head = Linear(refit=True).fit(dataclasses.replace(ctx, cache=None))
        info = {
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "train_seconds": result.seconds,
            "lr": task.lr,
            "pairs_per_epoch": len(task.pairs),
            "pair_length": task.pair_length,
            **{f"head_{k}": v for k, v in head.info.items() if k != "c_sweep"},
        }
        return StrategyResult(
            head.model, result.history, info, backbone_frozen=False, val_proba=head.val_proba
        )
