"""The training task of the deep methods, for the project's one training loop.

Each step pairs a labelled source batch with an unlabelled target batch. The two sets rarely
have the same size: an epoch is one pass over the longer, and the shorter is cycled (each
cycle a fresh seeded order), so every step has both. The target reaches this task through
:class:`UnlabelledView`, which has no labels: nothing in training or selection can read them.

Validation is on held-out labelled SOURCE data: accuracy and loss, and the label-free
selection risk (DEV, IWCV or the plain source loss; :mod:`transferkit.adaptation.selection`),
whose negative the loop monitors to keep the best epoch. Before each validation the BatchNorm
statistics are re-estimated on the same domain mix training used (precise BN; AdaBN for the
target share, Li et al., arXiv:1603.04779), since running averages lag the weights; the
``adabn`` method re-estimates them on the target alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed
from transferkit.adaptation.base import AdaptationNet
from transferkit.adaptation.selection import cross_entropy, selection_risk
from transferkit.data.base import Dataset
from transferkit.data.batches import examples, to_device
from transferkit.data.transforms import ImageTorchDataset, build_transform
from transferkit.features.extract import forward_batches
from transferkit.training.sampling import GlobalBatchSampler, SeededExamples
from transferkit.training.schedule import adamw_warmup_cosine
from transferkit.zoo.checkpoint import TransferModel

PRECISE_BN_BATCHES = 20
CYCLE = 1009  # sampler epochs of cycle k in epoch e: e * CYCLE + k (distinct, resumable)


class UnlabelledView(Dataset):
    """A dataset's images without its labels (the target as adaptation may see it)."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner
        self.name, self.modality = inner.name, inner.modality
        self.labels, self.classes, self.skipped = None, [], []
        self.hflip_safe = inner.hflip_safe
        self.fingerprint = f"unlabelled:{inner.fingerprint}"

    def __len__(self) -> int:
        return len(self.inner)

    def load(self, i: int) -> np.ndarray:
        return self.inner.load(i)

    def item_name(self, i: int) -> str:
        return self.inner.item_name(i)


@torch.no_grad()
def embed(
    model: TransferModel,
    dataset: Dataset,
    indices: np.ndarray,
    device: torch.device,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features and logits of ``model`` (eval mode) for ``indices``, in one pass."""
    d = model.backbone.num_features

    def fn(x: torch.Tensor) -> torch.Tensor:
        f = model.backbone.forward_features(x)
        return torch.cat([f, model.head(f)], 1)

    out = forward_batches(
        fn,
        model,
        model.data_config,
        dataset,
        np.asarray(indices),
        device=device,
        batch_size=batch_size,
        description="embed",
    )
    if len(out) == 0:
        return np.zeros((0, d), np.float32), np.zeros((0, model.head.out_features), np.float32)
    return out[:, :d], out[:, d:]


class AdaptTask:
    """The ``training.loop.Task`` of a deep method: paired batches, CE + trade-off * transfer."""

    def __init__(
        self,
        model: AdaptationNet,
        source: Dataset,
        source_train: np.ndarray,
        source_val: np.ndarray,
        target: UnlabelledView,
        target_idx: np.ndarray,
        *,
        opts,
        seed: int,
        rule: str,
        selection_idx: tuple[np.ndarray, np.ndarray],
        backbone_lr: float,
    ) -> None:
        self.model, self.source, self.target, self.opts = model, source, target, opts
        self.method = model.method
        self.train_idx, self.val_idx, self.target_idx = source_train, source_val, target_idx
        self.seed, self.rule, self.backbone_lr = seed, rule, backbone_lr
        self.sel_source, self.sel_target = selection_idx
        hflip = source.hflip_safe and target.hflip_safe
        self.data_config = cfg = model.classifier.data_config
        self.text = source.modality == "text"
        world, rank = distributed.world_size(), distributed.rank()
        bs = opts.batch_size

        def sampler(n: int, s: int) -> GlobalBatchSampler:
            # full batches only: the transfer losses (MMD, CORAL, MCC, ...) are batch
            # statistics, and a tail of one example per process has none
            return GlobalBatchSampler(n, min(bs, n - n % world), s, rank, world, drop_last=True)

        if self.text:  # raw strings, tokenised per batch (dynamic padding); no augmentation
            s_items, self.collate = examples(source, source_train, cfg, train=True)
            t_items, _ = examples(target, target_idx, cfg, train=True)
        else:  # one augmentation for both domains (a flip only if both allow it)
            train_tf = build_transform(cfg, train=True, augment=opts.augment, hflip=hflip)
            s_items = ImageTorchDataset(source, source_train, train_tf)
            t_items = ImageTorchDataset(target, target_idx, train_tf)
            self.collate = None
        self.s_examples = SeededExamples(s_items, seed)
        self.t_examples = SeededExamples(t_items, seed + 1)
        self.s_sampler = sampler(len(source_train), seed)
        self.t_sampler = sampler(len(target_idx), seed + 1)
        self.steps = len(self.s_sampler)
        if self.method.uses_target:
            self.steps = max(self.steps, len(self.t_sampler))
        self.epoch, self.step, self.total_steps = 0, 0, 1
        self.sums: dict[str, float] = {}

    # -- the Task protocol ------------------------------------------------------------------
    def configure(self, steps_per_epoch: int, epochs: int):
        o, net = self.opts, self.model
        self.total_steps = max(1, self.steps * epochs)
        parts = (
            (net.classifier.backbone, o.lr * self.backbone_lr),
            (net.classifier.head, o.lr),
            (net.extra, o.lr),
        )
        return adamw_warmup_cosine(
            parts,
            weight_decay=o.weight_decay,
            warmup_epochs=o.warmup_epochs,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            trainable_only=True,
        )

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch, self.step, self.sums = epoch, 0, {}

    def train_mode(self, model: nn.Module) -> None:
        model.train()

    def steps_per_epoch(self) -> int:
        return self.steps

    def _cycle(self, sampler: GlobalBatchSampler, examples: SeededExamples) -> Iterator:
        k = 0
        while True:
            sampler.set_epoch(self.epoch * CYCLE + k)
            examples.epoch = self.epoch * CYCLE + k
            yield from DataLoader(
                examples,
                batch_sampler=sampler,
                num_workers=self.opts.num_workers,
                collate_fn=self.collate,
            )
            k += 1

    def train_batches(self):
        src = self._cycle(self.s_sampler, self.s_examples)
        tgt = self._cycle(self.t_sampler, self.t_examples) if self.method.uses_target else None
        for _ in range(self.steps):
            xs, ys = next(src)
            yield xs, ys, (next(tgt)[0] if tgt is not None else None)

    def loss(self, model: nn.Module, batch, device: torch.device) -> torch.Tensor:
        xs, ys, xt = batch
        progress = (self.epoch * self.steps + self.step) / self.total_steps
        self.step += 1
        xt = to_device(xt, device) if xt is not None else None
        logits, term = model(to_device(xs, device), xt, progress)
        ce = F.cross_entropy(logits.float(), ys.to(device))
        for k, v in (("train_ce", ce), ("train_transfer", term)):
            self.sums[k] = self.sums.get(k, 0.0) + float(v.detach())
        return ce + self.method.trade_off * term if self.method.uses_trade_off else ce + term

    # -- validation -------------------------------------------------------------------------
    def _loader(self, dataset: Dataset, indices: np.ndarray) -> DataLoader:
        items, collate = examples(dataset, indices, self.data_config, train=False)
        return DataLoader(
            items, batch_size=max(2, self.opts.batch_size), shuffle=False, collate_fn=collate
        )

    @torch.no_grad()
    def precise_bn(self, device: torch.device) -> None:
        """Re-estimate BatchNorm statistics on eval-transformed training images of the
        method's domains (those training used; the target alone for ``adabn``)."""
        net = self.model.classifier
        bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not bns or self.text:  # text encoders normalise per example (LayerNorm)
            return
        saved = [m.momentum for m in bns]
        net.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        rng = np.random.default_rng([self.seed, self.epoch, 3])
        n = PRECISE_BN_BATCHES * self.opts.batch_size
        src = np.sort(rng.permutation(self.train_idx)[:n])
        tgt = np.sort(rng.permutation(self.target_idx)[:n])
        domains = self.method.norm_domains()
        loaders = [
            self._loader(d, i)
            for name, d, i in (("source", self.source, src), ("target", self.target, tgt))
            if name in domains
        ]
        for batches in zip(*loaders):
            x = torch.cat([b[0] for b in batches]).to(device)
            if len(x) > 1:
                net.backbone.forward_features(x)
        for m, momentum in zip(bns, saved):
            m.momentum = momentum
        net.eval()

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        net = distributed.unwrap(model)
        was = net.training
        self.precise_bn(device)
        clf, bs = net.classifier, self.opts.batch_size * 2
        metrics = {k: v / max(self.step, 1) for k, v in self.sums.items()}
        if len(self.val_idx) == 0:
            net.train(was)
            return {**metrics, "val_accuracy": 0.0, "val_loss": 0.0, "val_selection": 0.0}
        fv, lv = embed(clf, self.source, self.val_idx, device, bs)
        y = self.source.labels[self.val_idx]
        losses = cross_entropy(lv, y)
        fs, _ = embed(clf, self.source, self.sel_source, device, bs)
        ft, lt = embed(clf, self.target, self.sel_target, device, bs)
        risk = selection_risk(
            self.rule,
            val_losses=losses,
            f_val=fv,
            f_source=fs,
            f_target=ft,
            t_logits=lt,
            seed=self.seed,
        )
        net.train(was)
        metrics.update(
            val_accuracy=float(np.mean(lv.argmax(1) == y)),
            val_loss=float(losses.mean()),
            val_risk=risk["risk"],
            val_unreliable=risk["unreliable"],
            val_selection=-risk["risk"],
        )
        for k in ("dev", "iwcv", "snd", "im"):
            if k in risk:
                metrics[f"val_{k}"] = risk[k]
        return metrics
