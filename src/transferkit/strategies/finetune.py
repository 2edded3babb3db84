"""Fine-tuning: train the backbone (all of it, or its top blocks) together with a new head.

The recipe: AdamW; per-block learning rates decaying from the head downwards (discriminative
fine-tuning, as in ULMFiT, arXiv:1801.06146); linear warm-up then cosine decay; label
smoothing; augmentation from timm's transform factory (images; text is not augmented);
early stopping on validation with the best checkpoint kept; the head started from a linear
probe (LP-FT, arXiv:2202.10054) unless ``--head-init random``; optional gradual unfreezing
from the top. Frozen blocks keep their BatchNorm statistics frozen. ``scratch`` is the same
recipe from fresh weights. Batches come from :mod:`transferkit.data.batches`, so the same
recipe fine-tunes text encoders (default peak lr 1e-4 there instead of 1e-3).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed
from transferkit.data.batches import TextCollate, batch_len, examples, to_device
from transferkit.evaluation.predict import predict_logits
from transferkit.strategies.base import (
    STRATEGIES,
    FitContext,
    Strategy,
    StrategyResult,
    epoch_length,
)
from transferkit.strategies.linear import probe_start
from transferkit.timing import stage
from transferkit.training.sampling import GlobalBatchSampler, SeededExamples
from transferkit.training.schedule import adamw_warmup_cosine
from transferkit.zoo.checkpoint import TransferModel


def class_weights(labels: np.ndarray, k: int) -> np.ndarray:
    """Inverse-frequency weights, mean 1 over the examples (classes absent get 0)."""
    counts = np.bincount(labels, minlength=k).astype(float)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return w / (w[labels].mean() if len(labels) else 1.0)


def recalibrate_batchnorm(
    blocks: list[nn.Module], ctx: FitContext, max_batches: int | None = None
) -> bool:
    """Re-estimate the BatchNorm statistics of ``blocks`` on the target training images
    (timed as the ``batchnorm`` stage); see :func:`_recalibrate`."""
    with stage("batchnorm"):
        return _recalibrate(blocks, ctx, max_batches)


@torch.no_grad()
def _recalibrate(blocks: list[nn.Module], ctx: FitContext, max_batches: int | None = None) -> bool:
    """Re-estimate the BatchNorm statistics of ``blocks`` on the target training images.

    Used twice. Before the linear probe of LP-FT (AdaBN, Li et al., 2016, arXiv:1603.04779):
    fine-tuning normalises with batch statistics of target data, so a probe fitted on features
    normalised with the source's running statistics would lose its fit as soon as training
    starts. And before each validation (precise BatchNorm, Wu & Johnson, 2021,
    arXiv:2105.07576): running averages with a small momentum (EfficientNet's 0.01) lag far
    behind the weights on a small dataset, most of all from fresh weights, and evaluation
    with them can collapse to one class. Only blocks that train are touched: frozen blocks
    keep their statistics.
    """
    bns = [m for b in blocks for m in b.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return False
    saved = [(m.momentum, m.training) for m in bns]  # momentum restored after
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    backbone = ctx.backbone
    was_training = backbone.training
    backbone.eval()
    for m in bns:
        m.train()
    items, collate = examples(ctx.dataset, ctx.splits.train, backbone.data_config)
    loader = DataLoader(
        items,
        batch_size=max(2, ctx.config.train.batch_size),
        num_workers=ctx.config.train.num_workers,
        collate_fn=collate,
    )
    backbone.to(ctx.device)
    for i, (x, _) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        if batch_len(x) > 1:
            backbone.forward_features(to_device(x, ctx.device))
    for m, (momentum, _) in zip(bns, saved):
        m.momentum = momentum
    backbone.train(was_training)
    return True


PRECISE_BN_BATCHES = 50  # batches of training images for the statistics before validation


class FineTuneTask:
    """The training task for finetune / scratch (see ``training.loop.Task``)."""

    def __init__(
        self, model: TransferModel, ctx: FitContext, layer_decay: bool = True, lr: float = 1e-3
    ) -> None:
        self.model, self.ctx, self.opts, self.lr = model, ctx, ctx.config.train, lr
        self.lr_decay = self.opts.lr_decay if layer_decay else 1.0
        self.blocks = model.backbone.blocks()
        tr = ctx.splits.train
        self.train_labels = ctx.labels(tr)
        k = ctx.num_classes
        cw = class_weights(self.train_labels, k)
        self.loss_fn = nn.CrossEntropyLoss(
            weight=torch.tensor(cw, dtype=torch.float32)
            if self.opts.balance == "weights"
            else None,
            label_smoothing=self.opts.label_smoothing,
        )
        items, self.collate = examples(
            ctx.dataset, tr, model.data_config, train=True, augment=self.opts.augment
        )
        self.examples = SeededExamples(items, ctx.config.seed)
        self.sampler = GlobalBatchSampler(
            len(tr),
            min(self.opts.batch_size, len(tr) - len(tr) % distributed.world_size()),
            ctx.config.seed,
            distributed.rank(),
            distributed.world_size(),
            cw if self.opts.balance == "sampler" else None,
            self.train_labels,
        )
        self.trainable: list[bool] = [True] * len(self.blocks)

    # -- freezing ---------------------------------------------------------------------------
    @staticmethod
    def top_count(n: int, opts, epoch: int) -> int:
        """How many blocks, counted from the top, train in ``epoch``."""
        top = n if opts.unfreeze is None else max(0, min(n, opts.unfreeze))
        if opts.gradual_unfreeze > 0:
            top = min(top, 1 + epoch // opts.gradual_unfreeze)
        return top

    @staticmethod
    def top_blocks(blocks: list[nn.Module], opts, epoch: int) -> list[nn.Module]:
        k = FineTuneTask.top_count(len(blocks), opts, epoch)
        return blocks[len(blocks) - k :] if k else []

    def trainable_blocks(self, epoch: int) -> int:
        return self.top_count(len(self.blocks), self.opts, epoch)

    def on_epoch_start(self, epoch: int) -> None:
        top = self.trainable_blocks(epoch)
        n = len(self.blocks)
        self.trainable = [i >= n - top for i in range(n)]
        for block, on in zip(self.blocks, self.trainable):
            for p in block.parameters():
                p.requires_grad_(on)
        self.sampler.set_epoch(epoch)
        self.examples.epoch = epoch
        if isinstance(self.collate, TextCollate):  # the search's low rungs: shorter texts
            self.collate.max_length = epoch_length(self.ctx, epoch) or 0

    def train_mode(self, model: nn.Module) -> None:
        model.train()
        for block, on in zip(self.blocks, self.trainable):
            if not on:  # frozen blocks keep BatchNorm statistics (and dropout) frozen
                block.eval()

    # -- optimisation -----------------------------------------------------------------------
    def configure(self, steps_per_epoch: int, epochs: int):
        o, n = self.opts, len(self.blocks)
        layers = [(b, self.lr * self.lr_decay ** (n - i)) for i, b in enumerate(self.blocks)]
        layers.append((self.model.head, self.lr))
        return adamw_warmup_cosine(
            layers,
            weight_decay=o.weight_decay,
            warmup_epochs=o.warmup_epochs,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
        )

    def steps_per_epoch(self) -> int:
        return len(self.sampler)

    def train_batches(self):
        return DataLoader(
            self.examples,
            batch_sampler=self.sampler,
            num_workers=self.opts.num_workers,
            pin_memory=self.ctx.device.type == "cuda",
            collate_fn=self.collate,
        )

    def loss(self, model: nn.Module, batch, device: torch.device) -> torch.Tensor:
        x, y = batch
        x = to_device(x, device, channels_last=device.type == "cuda")
        logits = model(x)
        return self.loss_fn.to(device)(logits.float(), y.to(device))

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        va = self.ctx.splits.val
        trainable = [b for b, on in zip(self.blocks, self.trainable) if on]
        # also without validation: the kept (last) epoch is evaluated with precise statistics
        recalibrate_batchnorm(trainable, self.ctx, max_batches=PRECISE_BN_BATCHES)
        if len(va) == 0:
            return {}
        logits = predict_logits(
            model,
            self.ctx.dataset,
            va,
            device=device,
            batch_size=self.opts.batch_size * 2,
            description="validate",
            shard=False,
        )
        y = torch.as_tensor(self.ctx.labels(va))
        lg = torch.as_tensor(logits)
        return {
            "val_accuracy": float((lg.argmax(1) == y).float().mean()),
            "val_loss": float(nn.functional.cross_entropy(lg, y)),
        }


@STRATEGIES.register("finetune")
class FineTune(Strategy):
    """Fine-tune the source weights (full, top-k blocks, or gradually unfrozen).

    In the search: a trained strategy for images and text; a trial samples the learning rate
    and how many top blocks train (one of ``search_unfreeze``; 0: every block)."""

    trains_backbone = True
    search_role = "trained"
    searched_for = ("image", "text")
    search_order = 40
    search_lr = {"image": (1e-4, 1e-2), "text": (1e-5, 5e-4)}
    search_unfreeze = (0, 1, 2, 4)

    @classmethod
    def search_options(cls, trial, modality: str) -> dict:
        """The learning rate, then how many top blocks train (not sampled when
        ``search_unfreeze`` is empty: every block trains). The choices are the Optuna
        parameter ``unfreeze``, and one parameter keeps one set of choices in a study: a
        subclass with other choices samples them under a name of its own."""
        params = super().search_options(trial, modality)
        if cls.search_unfreeze:
            params["unfreeze"] = trial.suggest_categorical("unfreeze", list(cls.search_unfreeze))
        return params

    @classmethod
    def search_overrides(cls, params: dict) -> dict:
        return {"unfreeze": int(params["unfreeze"])} if params.get("unfreeze") else {}

    def fit(self, ctx: FitContext) -> StrategyResult:
        o = ctx.config.train
        # LP-FT (Kumar et al., 2022, arXiv:2202.10054) probes the *source* features; fresh
        # weights have none worth probing, so scratch always starts from a fresh head.
        head_info: dict = {}
        if o.head_init == "linear" and self.pretrained:
            trainable = FineTuneTask.top_blocks(ctx.backbone.blocks(), o, epoch=0)
            if recalibrate_batchnorm(trainable, ctx):
                ctx.backbone.invalidate_identity()
            model, head_info = probe_start(ctx)
        else:
            torch.manual_seed(ctx.config.seed)  # the new head's initialisation
            model = TransferModel(ctx.backbone, ctx.num_classes)
        task = FineTuneTask(model, ctx, layer_decay=self.pretrained, lr=self.learning_rate(ctx))
        result = self.train(task, ctx)
        for p in model.parameters():
            p.requires_grad_(True)
        model.backbone.invalidate_identity()
        info = {
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "blocks": len(task.blocks),
            "train_seconds": result.seconds,
            "lr": task.lr,
            **head_info,
        }
        return StrategyResult(model, result.history, info, backbone_frozen=False)


@STRATEGIES.register("scratch")
class Scratch(FineTune):
    """The structure-transfer baseline: the same architecture and recipe, fresh weights.

    Two parts of the recipe exist to protect pretrained features and so do not apply to fresh
    weights: the linear-probe head start (there are no source features to probe) and the
    per-block learning-rate decay (every block trains at the full rate).

    In the search: the control for images (does the source's knowledge help at all?); a trial
    samples only the learning rate, from a range that starts higher than finetune's for
    images, and every block trains (fresh weights have no lower blocks worth keeping).
    """

    pretrained = False
    searched_for = ("image",)
    search_order = 60
    search_lr = {"image": (3e-4, 1e-2), "text": (1e-5, 5e-4)}
    search_unfreeze = ()
