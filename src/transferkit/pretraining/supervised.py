"""Supervised pretraining: classification on a labelled source dataset, cross-entropy with
label smoothing; the backbone and its head (kept as the source head, for LEEP / NCE) transfer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from transferkit.pretraining.base import METHODS, PretrainTask
from transferkit.zoo.checkpoint import TransferModel


@METHODS.register("supervised")
class Supervised(PretrainTask):
    needs_labels = True
    monitor = "val_accuracy"

    def build(self) -> nn.Module:
        return TransferModel(self.backbone, self.dataset.num_classes)

    def compute_loss(self, model, batch, device) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x.to(device)).float(), y.to(device), label_smoothing=0.1)

    def validation_loss(self, model, batch, device):
        x, y = batch
        logits = model(x.to(device)).float()
        y = y.to(device)
        acc = float((logits.argmax(1) == y).float().mean())
        return F.cross_entropy(logits, y), {"val_accuracy": acc}

    def source_head(self):
        return self.model.head, list(self.dataset.classes)
