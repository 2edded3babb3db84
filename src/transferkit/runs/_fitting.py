"""The pieces of ``fit`` that ``compare``, ``--cv``, the sklearn wrapper and the automatic
search share: settings from keyword overrides and their checks, the labelled data, evaluation
of a strategy's result on a split."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from transferkit import distributed
from transferkit.config import DataOptions, FitConfig, TrainOptions, range_problems
from transferkit.config.options import resolved_values
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits, make_splits
from transferkit.errors import UserError
from transferkit.evaluation.metrics import classification_metrics, softmax
from transferkit.evaluation.predict import predict_logits
from transferkit.features.cache import FeatureCache
from transferkit.features.extract import extract_features
from transferkit.store import RunStore
from transferkit.strategies import STRATEGIES, FitContext, StrategyResult


def feature_cache(store: RunStore) -> FeatureCache:
    """The store's feature cache, shared by fit, rank, similarity, zeroshot and adapt."""
    return FeatureCache(store.root / "features")


def option_names() -> set[str]:
    """The names of every strategy's own options (``lora_rank``, ...)."""
    return {dest for dest, _, _ in STRATEGIES.option_fields()}


def make_config(
    data: str | None = None,
    *,
    config: FitConfig | None = None,
    strategies: list[str] | None = None,
    **overrides: Any,
) -> FitConfig:
    """A FitConfig from keyword overrides; names of data and train options and of the
    strategies' own options are accepted flat (``fit('builtin:digits', model='tiny-cnn',
    labels_per_class=10, epochs=3, lora_rank=4)``). The strategy's options are resolved (every
    default filled in); ``strategies`` (compare) checks them against several strategies."""
    cfg = dataclasses.replace(config) if config else FitConfig()
    groups: dict[str, dict[str, Any]] = {"top": {}, "data": {}, "train": {}, "options": {}}
    names = {
        "data": {f.name for f in dataclasses.fields(DataOptions)},
        "train": {f.name for f in dataclasses.fields(TrainOptions)},
        "top": {f.name for f in dataclasses.fields(FitConfig)} - {"data", "train", "options"},
        "options": option_names(),
    }
    for k, v in overrides.items():
        where = next((g for g, known in names.items() if k in known), None)
        if where is None:
            known = sorted(set().union(*names.values()))
            raise UserError(f"Unknown option {k!r} for fit. Options: {', '.join(known)}.")
        groups[where][k] = v
    if data is not None:
        groups["data"]["data"] = data
    cfg = dataclasses.replace(
        cfg,
        **groups["top"],
        data=dataclasses.replace(cfg.data, **groups["data"]),
        train=dataclasses.replace(cfg.train, **groups["train"]),
        options={**cfg.options, **groups["options"]},
    )
    for s in strategies or [cfg.strategy]:
        STRATEGIES.get(s)
    resolved = resolved_values(STRATEGIES, strategies or [cfg.strategy], cfg.options)
    return cfg if strategies else dataclasses.replace(cfg, options=resolved)


def member_config(base: FitConfig, strategy: str, **changes: Any) -> FitConfig:
    """``base`` for another strategy (its own options resolved), seed or label budget."""
    data = {
        k: changes.pop(k)
        for k in list(changes)
        if k in {f.name for f in dataclasses.fields(DataOptions)}
    }
    cfg = dataclasses.replace(
        base, strategy=strategy, data=dataclasses.replace(base.data, **data), **changes
    )
    from transferkit.config.options import dests

    mine = {k: v for k, v in base.options.items() if k in dests(STRATEGIES, strategy)}
    return dataclasses.replace(cfg, options=resolved_values(STRATEGIES, [strategy], mine))


def validate_config(cfg: FitConfig) -> None:
    """Refuse settings that cannot work, before anything is loaded."""
    STRATEGIES.get(cfg.strategy)
    problems = range_problems(cfg)
    if cfg.train.batch_size % distributed.world_size():
        problems.append(
            f"--batch-size {cfg.train.batch_size} must be divisible by the "
            f"{distributed.world_size()} processes"
        )
    if problems:
        raise UserError("Invalid settings: " + "; ".join(problems) + ".")


def load_fit_data(cfg: FitConfig) -> Dataset:
    d = cfg.data
    if not d.data:
        raise UserError("No data given. Pass --data (e.g. builtin:fashion-mnist, a folder).")
    return load_dataset(
        d.data,
        strict=d.strict,
        path_column=d.path_column,
        label_column=d.label_column,
        allow_outside_root=d.allow_outside_root,
        text_column=d.text_column,
    )


def fit_splits(dataset: Dataset, d: DataOptions, seed: int, labels_per_class: int | None) -> Splits:
    """The train / validation / test split ``fit`` draws for ``seed`` and a label budget
    (``compare`` and ``--cv`` draw the same ones, so their cells pair with plain fits)."""
    return make_splits(
        dataset,
        seed=seed,
        labels_per_class=labels_per_class,
        val_fraction=d.val_fraction,
        test_fraction=d.test_fraction,
        max_test=d.max_test,
    )


def check_labelled(dataset: Dataset) -> None:
    if dataset.labels is None or dataset.num_classes == 0:
        columns = getattr(dataset, "columns", None)
        have = f" Its columns are: {', '.join(map(repr, columns))}." if columns else ""
        raise UserError(
            f"{dataset.name} has no labels. fit needs one sub-folder per class (or a "
            f"label column, named with --label-column);{have} unlabelled data is "
            "for pretrain, adapt, zeroshot and predict."
        )
    present = np.unique(dataset.labels)
    if len(present) < 2:
        raise UserError(
            f"{dataset.name} has a single class ({dataset.classes[present[0]]!r}); "
            "a classifier needs at least two classes."
        )


def evaluate(ctx: FitContext, result: StrategyResult, indices: np.ndarray) -> np.ndarray:
    """Class probabilities of ``result.model`` for ``indices`` (cached features when frozen)."""
    if len(indices) == 0:
        return np.zeros((0, ctx.num_classes), dtype=np.float32)
    model, bs = result.model, ctx.config.train.batch_size * 2
    if result.backbone_frozen:
        feats = extract_features(
            model.backbone,
            ctx.dataset,
            indices,
            device=ctx.device,
            cache=ctx.cache,
            batch_size=bs,
            description="features (eval)",
        )
        with torch.no_grad():
            logits = model.head(torch.from_numpy(feats)).numpy()
    else:
        logits = predict_logits(
            model, ctx.dataset, indices, device=ctx.device, batch_size=bs, description="evaluate"
        )
    return softmax(logits)


def split_metrics(ctx: FitContext, indices: np.ndarray, proba: np.ndarray, prefix: str) -> dict:
    if len(indices) == 0:
        return {}
    return classification_metrics(ctx.labels(indices), proba, ctx.dataset.classes, prefix=prefix)
