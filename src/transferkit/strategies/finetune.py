"""Fine-tuning: train the backbone (all of it, or its top blocks) together with a new head.

The recipe: AdamW; per-block learning rates decaying from the head downwards (discriminative
fine-tuning, as in ULMFiT, arXiv:1801.06146); linear warm-up then cosine decay; label
smoothing; augmentation from timm's transform factory; early stopping on validation with the
best checkpoint kept; the head started from a linear probe (LP-FT, arXiv:2202.10054) unless
``--head-init random``; optional gradual unfreezing from the top. Frozen blocks keep their
BatchNorm statistics frozen. ``scratch`` is the same recipe from fresh weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed
from transferkit.data.transforms import ImageTorchDataset, build_transform
from transferkit.evaluation.predict import predict_logits
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult
from transferkit.strategies.linear import Linear
from transferkit.training import LoopSettings, run
from transferkit.training.sampling import GlobalBatchSampler, SeededExamples
from transferkit.training.schedule import warmup_cosine
from transferkit.zoo.checkpoint import TransferModel


def class_weights(labels: np.ndarray, k: int) -> np.ndarray:
    """Inverse-frequency weights, mean 1 over the examples (classes absent get 0)."""
    counts = np.bincount(labels, minlength=k).astype(float)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return w / (w[labels].mean() if len(labels) else 1.0)


class FineTuneTask:
    """The training task for finetune / scratch (see ``training.loop.Task``)."""

    def __init__(self, model: TransferModel, ctx: FitContext) -> None:
        self.model, self.ctx, self.opts = model, ctx, ctx.config.train
        self.blocks = model.backbone.blocks()
        tr = ctx.splits.train
        self.train_labels = ctx.labels(tr)
        k = ctx.num_classes
        cw = class_weights(self.train_labels, k)
        self.loss_fn = nn.CrossEntropyLoss(
            weight=torch.tensor(cw, dtype=torch.float32) if self.opts.balance == "weights" else None,
            label_smoothing=self.opts.label_smoothing,
        )
        transform = build_transform(
            model.data_config, train=True, augment=self.opts.augment, hflip=ctx.dataset.hflip_safe
        )
        self.examples = SeededExamples(ImageTorchDataset(ctx.dataset, tr, transform), ctx.config.seed)
        self.sampler = GlobalBatchSampler(
            len(tr), min(self.opts.batch_size, len(tr) - len(tr) % distributed.world_size()),
            ctx.config.seed, distributed.rank(), distributed.world_size(),
            cw if self.opts.balance == "sampler" else None, self.train_labels,
        )
        self.trainable: list[bool] = [True] * len(self.blocks)

    # -- freezing ---------------------------------------------------------------------------
    def trainable_blocks(self, epoch: int) -> int:
        n = len(self.blocks)
        top = n if self.opts.unfreeze is None else max(0, min(n, self.opts.unfreeze))
        if self.opts.gradual_unfreeze > 0:
            top = min(top, 1 + epoch // self.opts.gradual_unfreeze)
        return top

    def on_epoch_start(self, epoch: int) -> None:
        top = self.trainable_blocks(epoch)
        n = len(self.blocks)
        self.trainable = [i >= n - top for i in range(n)]
        for block, on in zip(self.blocks, self.trainable):
            for p in block.parameters():
                p.requires_grad_(on)
        self.sampler.set_epoch(epoch)
        self.examples.epoch = epoch

    def train_mode(self, model: nn.Module) -> None:
        model.train()
        for block, on in zip(self.blocks, self.trainable):
            if not on:  # frozen blocks keep BatchNorm statistics (and dropout) frozen
                block.eval()

    # -- optimisation -----------------------------------------------------------------------
    def configure(self, steps_per_epoch: int, epochs: int):
        o, n = self.opts, len(self.blocks)
        groups = []
        layers = [(b, o.lr * o.lr_decay ** (n - i)) for i, b in enumerate(self.blocks)]
        layers.append((self.model.head, o.lr))
        for module, lr in layers:
            decay = [p for p in module.parameters() if p.ndim > 1]
            no_decay = [p for p in module.parameters() if p.ndim <= 1]
            groups += [
                {"params": decay, "lr": lr, "weight_decay": o.weight_decay},
                {"params": no_decay, "lr": lr, "weight_decay": 0.0},
            ]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]])
        total = steps_per_epoch * epochs
        return optimizer, warmup_cosine(optimizer, round(o.warmup_epochs * steps_per_epoch), total)

    def steps_per_epoch(self) -> int:
        return len(self.sampler)

    def train_batches(self):
        return DataLoader(
            self.examples, batch_sampler=self.sampler, num_workers=self.opts.num_workers,
            pin_memory=self.ctx.device.type == "cuda",
        )

    def loss(self, model: nn.Module, batch, device: torch.device) -> torch.Tensor:
        x, y = batch
        x = x.to(device, non_blocking=True)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        return self.loss_fn.to(device)(logits.float(), y.to(device))

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        va = self.ctx.splits.val
        if len(va) == 0:
            return {"val_accuracy": 0.0, "val_loss": 0.0}
        logits = predict_logits(model, self.ctx.dataset, va, device=device,
                                batch_size=self.opts.batch_size * 2, description="validate",
                                shard=False)
        y = torch.as_tensor(self.ctx.labels(va))
        lg = torch.as_tensor(logits)
        return {
            "val_accuracy": float((lg.argmax(1) == y).float().mean()),
            "val_loss": float(nn.functional.cross_entropy(lg, y)),
        }


@STRATEGIES.register("finetune")
class FineTune(Strategy):
    """Fine-tune the source weights (full, top-k blocks, or gradually unfrozen)."""

    name = "finetune"

    def fit(self, ctx: FitContext) -> StrategyResult:
        o = ctx.config.train
        # LP-FT (Kumar et al., 2022, arXiv:2202.10054) probes the *source* features; fresh
        # weights have none worth probing, so scratch always starts from a fresh head.
        if o.head_init == "linear" and self.pretrained:
            model = Linear().fit(ctx).model
        else:
            torch.manual_seed(ctx.config.seed)  # the new head's initialisation
            model = TransferModel(ctx.backbone, ctx.num_classes)
        task = FineTuneTask(model, ctx)
        settings = LoopSettings(
            epochs=o.epochs, accumulate=o.accumulate, amp=o.amp, patience=o.patience,
            seed=ctx.config.seed, description=self.name,
            checkpoint_dir=(ctx.run_dir / "checkpoints") if ctx.run_dir else None,
        )
        result = run(task, settings, ctx.device, resume=ctx.resume)
        for p in model.parameters():
            p.requires_grad_(True)
        model.backbone.invalidate_identity()
        info = {"best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                "blocks": len(task.blocks), "train_seconds": result.seconds}
        return StrategyResult(model, result.history, info, backbone_frozen=False)


@STRATEGIES.register("scratch")
class Scratch(FineTune):
    """The structure-transfer baseline: the same architecture and recipe, fresh weights."""

    name = "scratch"
    pretrained = False
