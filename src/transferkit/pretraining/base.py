"""What every pretraining method shares: its settings, a registry, and a base training task.

A method is a :class:`PretrainTask` subclass that defines the extra modules it trains with
the backbone (a decoder, a projection head, a classifier) and its loss on a batch; the one
training loop runs it. What is kept for transfer is the backbone (for the VAE, the backbone
with its posterior-mean projection), saved like any transferkit model.

The ``pretrain`` workflow (:mod:`transferkit.runs.pretrain`) asks the method, through
classmethods with the single-image-source behaviour as their default, how its settings are
checked (``check``), how its data is read (``load_data``: one Dataset, several, or any object
with ``len``, ``name``, ``fingerprint``, ``predefined`` and ``summary()``), how it is split
(``split``) and which backbone it trains (``make_backbone``); after training, the task saves
what transfers (``save_source_model``) and anything it keeps for inspection
(``save_artifacts``, ``record_extras``). Splitting, resuming, recording and saving stay in the
workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed
from transferkit.config import PretrainConfig, opt
from transferkit.config.options import resolve
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.data.transforms import ImageTorchDataset, build_transform
from transferkit.errors import UserError
from transferkit.registry import Registry
from transferkit.training.sampling import GlobalBatchSampler, SeededExamples
from transferkit.training.schedule import adamw_warmup_cosine
from transferkit.zoo import create_backbone
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import TransferModel


def data_sources(spec: str) -> list[str]:
    """The sources a ``--data`` value names: a comma-separated list (``builtin:a,builtin:b``);
    a value that exists as a path is one source even if its name holds a comma."""
    from pathlib import Path

    if not spec or "," not in spec or Path(spec).exists():
        return [spec] if spec else []
    return [part.strip() for part in spec.split(",") if part.strip()]


def split_indices(dataset, val_fraction: float, seed: int, max_examples: int | None):
    """Train / validation indices for pretraining. A dataset with an official test split keeps
    it out (only its training part is pretrained on), so that a later ``fit`` on the same data
    is tested on examples the source model never saw. Returns (train, val, left_out)."""
    rng = np.random.default_rng(seed)
    pool = np.arange(len(dataset))
    if dataset.predefined is not None:
        pool = pool[np.asarray(dataset.predefined) != "test"]
    order = pool[rng.permutation(len(pool))]
    if max_examples:
        order = order[:max_examples]
    n_val = max(1, int(round(len(order) * val_fraction))) if len(order) > 10 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val]), len(dataset) - len(pool)


def load_image_source(cfg: PretrainConfig, spec: str, needs_labels: bool) -> Dataset:
    """One image source for pretraining, refused (UserError) when it holds text, or has no
    labels (or one class) while the method needs them."""
    dataset = load_dataset(spec, strict=cfg.strict, validate=needs_labels)
    check_source(cfg, dataset, needs_labels)
    return dataset


def check_source(cfg: PretrainConfig, dataset: Dataset, needs_labels: bool) -> None:
    """Refuse a source that holds text, or has no labels (or one class) when they are needed."""
    if dataset.modality != "image":
        raise UserError(
            f"pretrain works on images; {dataset.name} holds {dataset.modality} "
            "data. For text, start from a pretrained encoder (minilm-l6, hf:PATH) "
            "and use `transferkit fit` (finetune, lora or contrastive)."
        )
    if needs_labels and (dataset.labels is None or dataset.num_classes < 2):
        raise UserError(
            f"{cfg.method} pretraining needs labels, and {dataset.name} has "
            f"{'none' if dataset.labels is None else 'a single class'}. Use a "
            "folder with one sub-folder per class, or an unsupervised method "
            "(--method autoencoder, vae or contrastive)."
        )


class PretrainTask:
    """Base task: batches of (image, label) from the training indices. A method builds one
    module (``build``; it holds ``.backbone`` and whatever else it trains, and its ``forward``
    is what DDP wraps) and defines ``compute_loss``; validation is the mean loss."""

    needs_labels = False
    min_sources = 1  # how many sources --data must name (multi-task: two or more)
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

    # -- how the workflow prepares a run (classmethods: before the task exists) --------------
    @classmethod
    def check(cls, cfg: PretrainConfig) -> None:
        """Refuse settings this method cannot run with (UserError), before any data is read."""

    @classmethod
    def load_data(cls, cfg: PretrainConfig) -> Dataset | Any:
        """The source data: by default one image dataset (labelled when ``needs_labels``)."""
        sources = data_sources(cfg.data)
        if not sources:
            raise UserError("No source data given; pass --data.")
        if len(sources) > 1:
            raise UserError(
                f"--data names {len(sources)} sources ({', '.join(sources)}), and {cfg.method} "
                "pretraining takes one. Pretrain on several labelled sources at once with "
                "--method multitask, or pass a single source."
            )
        return load_image_source(cfg, sources[0], cls.needs_labels)

    @classmethod
    def split(cls, data: Any, cfg: PretrainConfig) -> tuple[np.ndarray, np.ndarray, int]:
        """(train indices, validation indices, examples left out as an official test split)."""
        return split_indices(data, cfg.val_fraction, cfg.seed, cfg.max_examples)

    @classmethod
    def trained_model(cls, cfg: PretrainConfig) -> str:
        """What the run trains, in words, for its first line (the architecture by default)."""
        return cfg.arch

    @classmethod
    def make_backbone(cls, cfg: PretrainConfig, data: Any) -> Backbone:
        """The backbone this method trains (``--arch``, fresh or ``--from-pretrained``)."""
        return create_backbone(
            cfg.arch, pretrained=cfg.from_pretrained, weights=cfg.weights, image_size=cfg.image_size
        )

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

    def save_source_model(self, rec: Any) -> Backbone:
        """Save what transfers as the run's model (``rec`` is the recorded run), so the zoo
        serves it as ``run:ID`` / ``--name``; the source head goes with it when the method has
        one (supervised). Returns the saved encoder."""
        encoder = self.transferred()
        head, classes = self.source_head()
        model = TransferModel(encoder, head.out_features if head is not None else 0)
        if head is not None:
            model.head.load_state_dict(head.state_dict())
        rec.save_model(
            model, classes or [], method=self.cfg.method, source_data=self.dataset.fingerprint
        )
        return encoder

    def save_artifacts(self, rec: Any) -> None:
        """Write what the method keeps in the run for inspection (none by default)."""

    def record_extras(self) -> dict[str, Any]:
        """Extra fields for the run record (none by default)."""
        return {}

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
