"""What every pretraining method shares: its settings, a registry, and a base training task.

A method is a :class:`PretrainTask` subclass that defines the extra modules it trains with
the backbone (a decoder, a projection head, a classifier) and its loss on a batch; the one
training loop runs it. What is kept for transfer is the backbone (for the VAE, the backbone
with its posterior-mean projection), saved like any transferkit model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed
from transferkit.config import PretrainConfig, opt
from transferkit.config.options import resolve
from transferkit.data.base import Dataset
from transferkit.data.transforms import ImageTorchDataset, build_transform
from transferkit.registry import Registry
from transferkit.training.sampling import GlobalBatchSampler, SeededExamples
from transferkit.training.schedule import adamw_warmup_cosine
from transferkit.zoo.base import Backbone


class PretrainTask:
    """Base task: batches of (image, label) from the training indices. A method builds one
    module (``build``; it holds ``.backbone`` and whatever else it trains, and its ``forward``
    is what DDP wraps) and defines ``compute_loss``; validation is the mean loss."""

    needs_labels = False
    monitor = "val_score"
    options: type | None = None  # the method's own settings (a dataclass), or None

    def __init__(
        self,
        backbone: Backbone,
        dataset: Dataset,
        train: np.ndarray,
        val: np.ndarray,
        cfg: PretrainConfig,
        device: torch.device,
    ) -> None:
        self.backbone, self.dataset, self.cfg, self.device = backbone, dataset, cfg, device
        self.opts = resolve(METHODS, self.name, cfg.options) if self.options else None
        self.train_idx, self.val_idx = train, val
        self.model = self.build()
        hflip = dataset.hflip_safe
        self.train_transform = build_transform(
            backbone.data_config, train=True, augment=cfg.augment, hflip=hflip
        )
        self.eval_transform = build_transform(backbone.data_config, train=False)
        self.examples = SeededExamples(self.make_examples(train), cfg.seed)
        world = distributed.world_size()
        bs = min(cfg.batch_size, len(train) - len(train) % world)
        self.sampler = GlobalBatchSampler(len(train), bs, cfg.seed, distributed.rank(), world)

    # -- what a method defines ----------------------------------------------------------------
    def build(self) -> nn.Module:
        raise NotImplementedError

    def compute_loss(self, model: nn.Module, batch, device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def make_examples(self, indices: np.ndarray) -> torch.utils.data.Dataset:
        return ImageTorchDataset(self.dataset, indices, self.train_transform)

    def val_examples(self) -> torch.utils.data.Dataset:
        """Validation examples; the same every epoch."""
        return ImageTorchDataset(self.dataset, self.val_idx, self.eval_transform)

    def transferred(self) -> Backbone:
        """The backbone to save for transfer."""
        return self.model.backbone

    def source_head(self) -> tuple[nn.Linear | None, list[str] | None]:
        return None, None

    # -- the training-loop Task protocol --------------------------------------------------------
    def configure(self, steps_per_epoch: int, epochs: int):
        return adamw_warmup_cosine(
            [(self.model, self.cfg.lr)],
            weight_decay=self.cfg.weight_decay,
            warmup_epochs=self.cfg.warmup_epochs,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
        )

    def on_epoch_start(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.examples.epoch = epoch

    def train_mode(self, model: nn.Module) -> None:
        model.train()

    def steps_per_epoch(self) -> int:
        return len(self.sampler)

    def train_batches(self):
        return DataLoader(
            self.examples,
            batch_sampler=self.sampler,
            num_workers=self.cfg.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def loss(self, model: nn.Module, batch, device: torch.device) -> torch.Tensor:
        return self.compute_loss(model, batch, device)

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        if len(self.val_idx) == 0:
            return {"val_loss": 0.0, "val_score": 0.0}
        net = distributed.unwrap(model)
        was = net.training
        net.eval()
        loader = DataLoader(
            self.val_examples(), batch_size=self.cfg.batch_size, num_workers=self.cfg.num_workers
        )
        gen = torch.Generator().manual_seed(self.cfg.seed)  # fixed noise / views for validation
        total, n, extra = 0.0, 0, {}
        for batch in loader:
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            loss, more = self.validation_loss(net, batch, device)
            total += float(loss) * len(batch[0])
            n += len(batch[0])
            for k, v in more.items():
                extra[k] = extra.get(k, 0.0) + v * len(batch[0])
        net.train(was)
        val = total / max(n, 1)
        # rank 0's numbers on every rank: BatchNorm running statistics differ a little between
        # processes, and the ranks must agree on the best epoch and on early stopping
        return distributed.broadcast_object(
            {"val_loss": val, "val_score": -val, **{k: v / max(n, 1) for k, v in extra.items()}}
        )

    def validation_loss(self, model: nn.Module, batch, device) -> tuple[torch.Tensor, dict]:
        return self.compute_loss(model, batch, device), {}


METHODS: Registry[type[PretrainTask]] = Registry(
    "pretraining method", package="transferkit.pretraining"
)


@dataclass
class LatentOptions:
    """The bottleneck of the autoencoder and the VAE."""

    prefix = ""
    latent_dim: int = opt(64, "Latent size of the autoencoder / VAE bottleneck.", min=1)
