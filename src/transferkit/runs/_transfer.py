"""One transfer run: a source model to labelled target data, recorded in the run store.

Read top to bottom: settings -> data and splits -> backbone -> the strategy trains -> validation
and test metrics -> the model, config, history and test predictions saved -> the record
finished. ``fit`` (:mod:`transferkit.runs.fit`) calls it for one configuration, and the
automatic search calls it for every trial; ``compare``, ``--cv``, the sklearn wrapper and the
search pass data that is already loaded and split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit import distributed, progress, timing
from transferkit.config import FitConfig
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits
from transferkit.errors import UserError
from transferkit.evaluation.metrics import calibration_bins
from transferkit.runs._fitting import (
    check_labelled,
    evaluate,
    feature_cache,
    fit_splits,
    load_fit_data,
    make_config,
    split_metrics,
    validate_config,
)
from transferkit.runs._recorded import RecordedRun
from transferkit.store import RunStore
from transferkit.store.artifacts import VAL_PREDICTIONS, save_predictions
from transferkit.strategies import STRATEGIES, FitContext, StrategyResult
from transferkit.strategies.base import Strategy
from transferkit.strategies.linear import NO_VALIDATION_C
from transferkit.training import seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import TransferModel


@dataclass
class FitResult:
    """What ``fit`` returns: the run id, metrics, the trained model and its history."""

    run_id: str
    strategy: str
    metrics: dict[str, Any]
    model: TransferModel
    classes: list[str]
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    artifact_dir: Path | None = None
    skipped: int = 0

    @property
    def accuracy(self) -> float:
        return float(self.metrics.get("test_accuracy", float("nan")))


def _resumed(store: RunStore, resume: str) -> FitConfig:
    """The stored settings of the unfinished fit run ``resume``."""
    old = store.get(resume)
    if old.kind != "fit":
        raise UserError(f"Run {old.id} is a {old.kind} run; only fit runs resume here.")
    if old.status == "done":
        raise UserError(
            f"Run {old.id} already finished; there is nothing to resume. "
            f"Start a new run with `transferkit fit` instead."
        )
    return FitConfig.from_dict(old.config)


def transfer(
    data: str | None = None,
    *,
    config: FitConfig | None = None,
    resume: str | None = None,
    dataset: Dataset | None = None,
    splits: Splits | None = None,
    store: RunStore | None = None,
    parent: str | None = None,
    record: dict[str, Any] | None = None,
    hooks: Any = None,
    **overrides: Any,
) -> FitResult:
    """Transfer a source model to the target data; returns a :class:`FitResult`.

    ``resume`` continues an interrupted run from its last checkpoint with its stored config.
    ``dataset`` / ``splits`` let library code pass data that is already loaded and split;
    ``parent`` and ``record`` link the run to a comparison, a cross-validation or a search;
    ``hooks`` (:class:`~transferkit.training.TrainHooks`) let a search watch and stop it."""
    with timing.collect() as stages:
        store = store or RunStore()
        cfg = _resumed(store, resume) if resume else make_config(data, config=config, **overrides)
        validate_config(cfg)
        with timing.stage("load"):
            device = distributed.setup(cfg.train.device)
            dataset, splits = _data(cfg, dataset, splits)
            strategy, backbone = _model(cfg)
            notes = _notes(dataset, splits, backbone, cfg, device)
        with RecordedRun(
            store,
            "fit",
            cfg.to_dict(),
            seed=cfg.seed,
            parent=parent,
            resume=resume,
            data_fingerprint=dataset.fingerprint,
        ) as run:
            run.note(**notes, **(record or {}))
            cache = feature_cache(store)
            ctx = FitContext(
                cfg,
                dataset,
                splits,
                backbone,
                device,
                cache,
                run.dir,
                resume=bool(resume),
                hooks=hooks,
            )
            _announce(run.id, strategy.name, cfg, dataset, splits)
            result = strategy.fit(ctx)
            with timing.stage("test"):
                metrics, val_proba, test_proba = _evaluate(ctx, result)
            with timing.stage("store"):
                extra = _write(run, ctx, result, strategy.name, (val_proba, test_proba))
            run.finish(metrics, stages.timings(), **extra)
    return _result(run, strategy.name, metrics, result, dataset)


def _data(cfg: FitConfig, dataset: Dataset | None, splits: Splits | None) -> tuple[Dataset, Splits]:
    """The labelled target data and its splits: as given, or loaded and drawn by ``cfg``."""
    dataset = dataset if dataset is not None else load_fit_data(cfg)
    check_labelled(dataset)
    if splits is None:
        splits = fit_splits(dataset, cfg.data, cfg.seed, cfg.data.labels_per_class)
    return dataset, splits


def _model(cfg: FitConfig) -> tuple[Strategy, Backbone]:
    """The strategy and the source model (pretrained or fresh, as the strategy asks), created
    after seeding so that fresh weights are the same for the same seed."""
    strategy = STRATEGIES.get(cfg.strategy)()
    seed_everything(cfg.seed)
    backbone = create_backbone(
        cfg.model,
        pretrained=strategy.pretrained,
        weights=cfg.weights,
        image_size=cfg.data.image_size,
        max_length=cfg.data.max_length,
    )
    return strategy, backbone


def _evaluate(
    ctx: FitContext, result: StrategyResult
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Validation and test metrics (validation from the strategy's own probabilities when it
    kept them: a model refit on the validation examples is not re-scored on them); returns
    them with the validation and test probabilities."""
    splits = ctx.splits
    val_proba = (
        result.val_proba if result.val_proba is not None else evaluate(ctx, result, splits.val)
    )
    test_proba = evaluate(ctx, result, splits.test)
    metrics = {
        **split_metrics(ctx, splits.val, val_proba, "val_"),
        **split_metrics(ctx, splits.test, test_proba, "test_"),
    }
    return metrics, val_proba, test_proba


def _write(
    run: RecordedRun,
    ctx: FitContext,
    result: StrategyResult,
    strategy: str,
    proba: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """The model, config, history and the validation and test predictions, each written
    atomically; returns what the record keeps besides the metrics (with the test set's
    calibration bins)."""
    val_proba, test_proba = proba
    run.save_model(result.model, ctx.dataset.classes, strategy=strategy)
    run.write_json("config.json", ctx.config.to_dict())
    run.write_json("history.json", result.history)
    extra = {"strategy_info": result.info, "history": result.history}
    val, test = ctx.splits.val, ctx.splits.test
    if len(val) and run.main:
        y_val = ctx.dataset.labels[val]
        save_predictions(run.dir, val, y_val, val_proba, name=VAL_PREDICTIONS)
    if len(test) and run.main:
        y_test = ctx.dataset.labels[test]
        save_predictions(run.dir, test, y_test, test_proba)
        extra["calibration"] = calibration_bins(y_test, test_proba)
    return extra


def _result(
    run: RecordedRun,
    strategy: str,
    metrics: dict[str, Any],
    result: StrategyResult,
    dataset: Dataset,
) -> FitResult:
    """What the caller gets: the record's id and metrics, the trained model and its history
    (``strategy`` is the one ``auto`` chose, when it chose)."""
    return FitResult(
        run.id,
        result.info.get("chosen", strategy),
        metrics,
        result.model,
        list(dataset.classes),
        result.history,
        result.info,
        run.dir,
        len(dataset.skipped),
    )


def _notes(dataset: Dataset, splits: Splits, backbone: Any, cfg: FitConfig, device) -> dict:
    """What the record says about the inputs (and the truncation of long texts)."""
    from transferkit.data.batches import check_modality, truncation

    check_modality(backbone.data_config, dataset, cfg.model)
    truncated = truncation(
        dataset, backbone.data_config, np.concatenate([splits.train, splits.val, splits.test])
    )
    if truncated and truncated["truncated"]:
        progress.info(
            f"{truncated['truncated']} of {truncated['texts']} texts are longer than "
            f"{truncated['max_length']} tokens and are truncated (longest: "
            f"{truncated['longest']})"
        )
    return {
        "dataset": dataset.summary(),
        "backbone": backbone.identity,
        "skipped": [dataclasses.asdict(s) for s in dataset.skipped[:1000]],
        "splits": splits.sizes(),
        "world_size": distributed.world_size(),
        "device": str(device),
        **({"truncation": truncated} if truncated else {}),
    }


def _announce(run_id: str, strategy: str, cfg: FitConfig, dataset: Dataset, splits: Splits) -> None:
    progress.info(
        f"run {run_id}: {strategy} {cfg.model} on {dataset.name} "
        f"({len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test)"
    )
    if len(splits.val) == 0:
        progress.info(
            "no validation split: the linear head uses a fixed "
            f"C={NO_VALIDATION_C}, training runs all {cfg.train.epochs} epochs and keeps "
            "the last one"
        )
