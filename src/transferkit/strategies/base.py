"""What every transfer strategy receives and returns.

A strategy turns a backbone and labelled target data into a :class:`TransferModel`. It sees
only the backbone contract and the data contract; where it trains, it hands a task to the one
training loop. Strategies register themselves by name in ``STRATEGIES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.config import FitConfig
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits
from transferkit.features.cache import FeatureCache
from transferkit.registry import Registry
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import TransferModel


@dataclass
class FitContext:
    """Everything a strategy may use for one run."""

    config: FitConfig
    dataset: Dataset
    splits: Splits
    backbone: Backbone
    device: torch.device
    cache: FeatureCache | None
    run_dir: Path | None  # artifact folder: checkpoints go to run_dir / "checkpoints"
    resume: bool = False
    hooks: Any = None  # training.TrainHooks: the automatic search's per-epoch report and stop

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def labels(self, indices: np.ndarray) -> np.ndarray:
        assert self.dataset.labels is not None
        return self.dataset.labels[indices]


@dataclass
class StrategyResult:
    model: TransferModel
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    backbone_frozen: bool = False  # True: test features may come from the feature cache
    # Validation probabilities of the model as *selected* (before any refit that used the
    # validation examples): reported instead of re-evaluating a model that has seen them.
    val_proba: np.ndarray | None = None


class Strategy:
    """Base class. ``pretrained``: whether the strategy starts from the source weights;
    ``default_lr``: the peak learning rate per modality when ``--lr`` is not given (pretrained
    transformers need far smaller steps than the CNN recipes); ``options``: a dataclass of the
    strategy's own settings (LoRA's rank), or None. The registry sets ``name``."""

    pretrained = True
    default_lr = {"image": 1e-3, "text": 1e-4}
    options: type | None = None

    def opts(self, ctx: FitContext):
        """This strategy's options for the run (from ``ctx.config.options``, defaults filled)."""
        from transferkit.config.options import resolve

        return resolve(STRATEGIES, self.name, ctx.config.options)

    def learning_rate(self, ctx: FitContext) -> float:
        lr = ctx.config.train.lr
        return float(lr) if lr is not None else self.default_lr[ctx.dataset.modality]

    def train(self, task, ctx: FitContext):
        """Run ``task`` on the shared training loop with the run's options: early stopping on
        validation accuracy when there is a validation split (otherwise the last epoch is
        kept), checkpoints in the run folder, resume when the run is resumed."""
        from transferkit.training import LoopSettings, run

        o = ctx.config.train
        settings = LoopSettings(
            epochs=o.epochs,
            accumulate=o.accumulate,
            amp=o.amp,
            patience=o.patience,
            seed=ctx.config.seed,
            description=self.name,
            monitor="val_accuracy" if len(ctx.splits.val) else None,
            checkpoint_dir=(ctx.run_dir / "checkpoints") if ctx.run_dir else None,
            hooks=ctx.hooks,
        )
        return run(task, settings, ctx.device, resume=ctx.resume)

    def fit(self, ctx: FitContext) -> StrategyResult:  # pragma: no cover - abstract
        raise NotImplementedError


STRATEGIES: Registry[type[Strategy]] = Registry("strategy", package="transferkit.strategies")
