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


#: What the automatic search does with a strategy (:attr:`Strategy.search_role`).
SEARCH_ROLES = ("cheap", "trained")


class Strategy:
    """Base class: a way of transferring, and the facts the rest of the library reads about it,
    so that a new strategy file is searched, explained and reported with no other edit.

    How it runs: ``pretrained``, whether it starts from the source weights (the backbone is
    created with them; ``explain`` compares with the source only then); ``trains_backbone``,
    whether the fit changes what the backbone computes (fine-tuning, adapters), so that
    ``explain`` can show what fine-tuning changed; ``default_lr``, the peak learning rate per
    modality when ``--lr`` is not given (pretrained transformers need far smaller steps than
    the CNN recipes); ``options``, a dataclass of the strategy's own settings (LoRA's rank), or
    None. The registry sets ``name``.

    How the automatic search uses it (:mod:`transferkit.search.space`): ``search_role``,
    ``"cheap"`` (run once per kept model on cached features before the trials), ``"trained"``
    (a trial whose recipe the sampler tunes) or None (not searched: ``auto`` and
    ``linear-or-finetune`` choose other strategies); ``searched_for``, the modalities whose
    default search includes it (others run it only when asked for with ``--strategies``);
    ``search_order``, its place in the search's lists (the first cheap one always runs, so a
    search out of time still returns a result; the sampler's choices keep this order);
    ``search_lr``, a trained strategy's log-uniform learning-rate range per modality, with
    ``default_lr`` inside; ``model_needs``, what a candidate model must offer for it (a
    :class:`~transferkit.search.space.ModelInfo` flag: ``"adapters"``, ``"describes"``), or
    None; ``learns_from_labels``, False for a strategy whose model never reads the labelled
    examples (zero-shot), so the search scores it on every label at once instead of by
    k-fold; :meth:`search_options`, how a trial samples its recipe, and
    :meth:`search_overrides`, that recipe as fit's settings."""

    pretrained = True
    trains_backbone = False
    default_lr = {"image": 1e-3, "text": 1e-4}
    options: type | None = None
    search_role: str | None = None
    searched_for: tuple[str, ...] = ()
    search_order = 100
    search_lr: dict[str, tuple[float, float]] = {}
    model_needs: str | None = None
    learns_from_labels = True

    @classmethod
    def search_options(cls, trial: Any, modality: str) -> dict[str, Any]:
        """Sample this strategy's recipe on an Optuna trial (define-by-run): its learning rate,
        log-uniform in its range for ``modality`` under its own name (``lr_finetune``), so the
        sampler learns one per strategy. Subclasses add their own choices after it (the order
        of the calls is part of what a seeded sampler draws)."""
        lo, hi = cls.search_lr[modality]
        key = f"lr_{cls.name}"
        return {key: trial.suggest_float(key, lo, hi, log=True)}

    @classmethod
    def search_overrides(cls, params: dict[str, Any]) -> dict[str, Any]:
        """A trial's sampled recipe as ``fit``'s settings, beyond model, strategy, learning
        rate and input size (which every trial has): none by default."""
        return {}

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


def epoch_length(ctx: FitContext, epoch: int, own: int | None = None) -> int | None:
    """The most tokens per text in ``epoch``'s training batches: the shortest of the model's
    limit, the strategy's own (``own``) and the caller's for that epoch (a hook's
    ``max_length(epoch)``: the automatic search trains its low rungs on shorter texts, so
    trials it prunes there cost less). None: no limit is set (the tokenizer's own applies)."""
    hook = getattr(ctx.hooks, "max_length", None)
    limits = [ctx.backbone.data_config.max_length, own, hook(epoch) if hook else None]
    return min((int(n) for n in limits if n), default=None)
