"""Contrastive pretraining, SimCLR-style (Chen et al., ICML 2020, arXiv:2002.05709).

Two augmented views of each image pass through the backbone and an MLP projection head; the
NT-Xent loss pulls the two views of an image together and pushes the other 2(N-1) views away
(under torchrun N is the global batch: every process's projections are gathered, so the
negatives and the gradients are those of one process with the whole batch):

    l(i, j) = -log exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t)

averaged over all 2N anchors, with cosine similarity ``sim`` and temperature ``t``. The
backbone (before the projection head) transfers. Labels are never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from transferkit import distributed
from transferkit.config import opt
from transferkit.data.transforms import ImageTorchDataset, build_transform
from transferkit.errors import UserError
from transferkit.pretraining.base import METHODS, PretrainTask
from transferkit.training.sampling import SeededExamples


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over ``z`` = [views 1 of N images; views 2 of the same N images]."""
    z = F.normalize(z.float(), dim=1)
    n = len(z) // 2
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, inner: ImageTorchDataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int):
        (a, y), (b, _) = self.inner[i], self.inner[i]
        return a, b, y


class SimCLR(nn.Module):
    def __init__(self, backbone, projection_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        d = backbone.num_features
        self.projector = nn.Sequential(
            nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, projection_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone.forward_features(x))


@dataclass
class ContrastiveOptions:
    prefix = ""
    temperature: float = opt(0.5, "Contrastive: NT-Xent temperature.", gt=0)
    projection_dim: int = opt(128, "Contrastive: output size of the projection head.", min=1)


@METHODS.register("contrastive")
class ContrastiveTask(PretrainTask):
    options = ContrastiveOptions

    @classmethod
    def check(cls, cfg) -> None:
        if cfg.batch_size < 2:
            raise UserError(
                "Contrastive pretraining needs a batch size of at least 2 (each "
                "image is contrasted with the others in its batch); use 64 or more."
            )

    def build(self) -> nn.Module:
        return SimCLR(self.backbone, self.opts.projection_dim)

    def make_examples(self, indices):
        strong = build_transform(
            self.backbone.data_config, train=True, augment=True, hflip=self.dataset.hflip_safe
        )
        return TwoViews(ImageTorchDataset(self.dataset, indices, strong))

    def compute_loss(self, model, batch, device) -> torch.Tensor:
        a, b = batch[0].to(device), batch[1].to(device)
        return nt_xent(model(torch.cat([a, b])), self.opts.temperature)

    def loss(self, model, batch, device) -> torch.Tensor:
        """Training: NT-Xent over the global batch, every process's views gathered (validation
        runs the whole validation set in each process, so it keeps :meth:`compute_loss`)."""
        a, b = batch[0].to(device), batch[1].to(device)
        z = model(torch.cat([a, b]))
        views_a, _ = distributed.gather_rows(z[: len(a)])
        views_b, _ = distributed.gather_rows(z[len(a) :])
        return nt_xent(torch.cat([views_a, views_b]), self.opts.temperature)

    def val_examples(self):
        # Two augmented views per validation image, seeded so they are the same every epoch.
        return SeededExamples(self.make_examples(self.val_idx), self.cfg.seed + 1)

    def validation_loss(self, model, batch, device):
        return self.compute_loss(model, batch, device), {}
