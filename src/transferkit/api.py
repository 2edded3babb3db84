"""The Python API: ``fit`` a transfer, ``predict`` with a finished run.

The CLI is a thin layer over these functions; both fill the same config dataclasses. Every fit
is recorded in the run store (config, versions, data fingerprint, metrics, timings) with its
model saved as safetensors in the run's artifact folder.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit import distributed, progress
from transferkit.config import DataOptions, FitConfig, TrainOptions, range_problems
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.data.batches import check_modality, truncation
from transferkit.data.splits import Splits, make_splits
from transferkit.errors import UserError
from transferkit.evaluation.metrics import calibration_bins, classification_metrics
from transferkit.evaluation.predict import predict_logits, softmax
from transferkit.features.cache import FeatureCache
from transferkit.features.extract import extract_features
from transferkit.store import RunStore, recording
from transferkit.strategies import STRATEGIES, FitContext, StrategyResult
from transferkit.strategies.linear import NO_VALIDATION_C
from transferkit.training import seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import (
    TransferModel,
    atomic_write_bytes,
    atomic_write_json,
    load_model,
    save_model,
)

BALANCE = ("none", "weights", "sampler")
HEAD_INIT = ("linear", "random")


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

    @property
    def accuracy(self) -> float:
        return float(self.metrics.get("test_accuracy", float("nan")))


def make_config(
    data: str | None = None, *, config: FitConfig | None = None, **overrides: Any
) -> FitConfig:
    """A FitConfig from keyword overrides; names of data and train options are accepted flat
    (``fit('builtin:digits', model='tiny-cnn', labels_per_class=10, epochs=3)``)."""
    cfg = dataclasses.replace(config) if config else FitConfig()
    data_fields = {f.name for f in dataclasses.fields(DataOptions)}
    train_fields = {f.name for f in dataclasses.fields(TrainOptions)}
    top = {f.name for f in dataclasses.fields(FitConfig)} - {"data", "train"}
    d, t, c = {}, {}, {}
    for k, v in overrides.items():
        if k in top:
            c[k] = v
        elif k in data_fields:
            d[k] = v
        elif k in train_fields:
            t[k] = v
        else:
            raise UserError(f"Unknown option {k!r} for fit. Options: "
                            f"{', '.join(sorted(top | data_fields | train_fields))}.")
    if data is not None:
        d["data"] = data
    return dataclasses.replace(
        cfg, **c, data=dataclasses.replace(cfg.data, **d), train=dataclasses.replace(cfg.train, **t)
    )


def validate_config(cfg: FitConfig) -> None:
    """Refuse settings that cannot work, before anything is loaded."""
    STRATEGIES.get(cfg.strategy)
    t, d = cfg.train, cfg.data
    problems = range_problems(cfg)
    if t.balance not in BALANCE:
        problems.append(f"--balance must be one of {', '.join(BALANCE)}, not {t.balance!r}")
    if t.head_init not in HEAD_INIT:
        problems.append(f"--head-init must be one of {', '.join(HEAD_INIT)}, not {t.head_init!r}")
    if t.epochs < 1 or t.batch_size < 1 or t.accumulate < 1:
        problems.append("--epochs, --batch-size and --accumulate must be at least 1")
    if not 0 < d.val_fraction < 1 or not 0 < d.test_fraction < 1:
        problems.append("--val-fraction and --test-fraction must lie strictly between 0 and 1")
    if d.labels_per_class is not None and d.labels_per_class < 1:
        problems.append("--labels-per-class must be at least 1")
    if t.lr is not None and t.lr <= 0:
        problems.append("--lr must be positive")
    if t.lora_rank < 1 or t.lora_alpha <= 0 or not 0 <= t.lora_dropout < 1:
        problems.append("--lora-rank must be at least 1, --lora-alpha positive and "
                        "--lora-dropout at least 0 and below 1")
    if d.max_length is not None and d.max_length < 2:
        problems.append("--max-length must be at least 2 tokens")
    if t.batch_size % distributed.world_size():
        problems.append(f"--batch-size {t.batch_size} must be divisible by the "
                        f"{distributed.world_size()} processes")
    if problems:
        raise UserError("Invalid settings: " + "; ".join(problems) + ".")


def check_labelled(dataset: Dataset) -> None:
    if dataset.labels is None or dataset.num_classes == 0:
        columns = getattr(dataset, "columns", None)
        have = f" Its columns are: {', '.join(map(repr, columns))}." if columns else ""
        raise UserError(f"{dataset.name} has no labels. fit needs one sub-folder per class (or a "
                        f"label column, named with --label-column);{have} unlabelled data is "
                        "for pretrain, adapt, zeroshot and predict.")
    present = np.unique(dataset.labels)
    if len(present) < 2:
        raise UserError(f"{dataset.name} has a single class ({dataset.classes[present[0]]!r}); "
                        "a classifier needs at least two classes.")


def _evaluate(ctx: FitContext, result: StrategyResult, indices: np.ndarray) -> np.ndarray:
    """Class probabilities of ``result.model`` for ``indices`` (cached features when frozen)."""
    k = ctx.num_classes
    if len(indices) == 0:
        return np.zeros((0, k), dtype=np.float32)
    model, bs = result.model, ctx.config.train.batch_size * 2
    if result.backbone_frozen:
        feats = extract_features(model.backbone, ctx.dataset, indices, device=ctx.device,
                                 cache=ctx.cache, batch_size=bs, description="features (eval)")
        with torch.no_grad():
            logits = model.head(torch.from_numpy(feats)).numpy()
    else:
        logits = predict_logits(model, ctx.dataset, indices, device=ctx.device, batch_size=bs,
                                description="evaluate")
    return softmax(logits)


def _metrics(ctx: FitContext, indices: np.ndarray, proba: np.ndarray, prefix: str) -> dict:
    if len(indices) == 0:
        return {}
    return classification_metrics(ctx.labels(indices), proba, ctx.dataset.classes, prefix=prefix)


def save_predictions(folder: Path, indices: np.ndarray, labels: np.ndarray, proba: np.ndarray) -> None:
    """Test-split predictions for paired comparisons (numeric arrays only: no pickle)."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, indices=indices.astype(np.int64), labels=labels.astype(np.int64),
                        proba=proba.astype(np.float32))
    atomic_write_bytes(folder / "test_predictions.npz", buf.getvalue())


def load_predictions(folder: Path) -> dict[str, np.ndarray] | None:
    p = Path(folder) / "test_predictions.npz"
    if not p.is_file():
        return None
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def fit(
    data: str | None = None,
    *,
    config: FitConfig | None = None,
    resume: str | None = None,
    dataset: Dataset | None = None,
    splits: Splits | None = None,
    store: RunStore | None = None,
    parent: str | None = None,
    record: dict[str, Any] | None = None,
    **overrides: Any,
) -> FitResult:
    """Transfer a source model to the target data; returns a :class:`FitResult`.

    ``resume`` continues an interrupted run from its last checkpoint with its stored config.
    ``dataset`` / ``splits`` let library code (the sklearn wrapper, comparisons) pass data
    that is already loaded and split; ``parent`` and ``record`` link the run to a comparison
    or cross-validation and add to what the store records about it.
    """
    t_start = time.perf_counter()
    store = store or RunStore()
    if resume:
        old = store.get(resume)
        if old.kind != "fit":
            raise UserError(f"Run {old.id} is a {old.kind} run; only fit runs resume here.")
        if old.status == "done":
            raise UserError(f"Run {old.id} already finished; there is nothing to resume. "
                            f"Start a new run with `transferkit fit` instead.")
        cfg, run_id = FitConfig.from_dict(old.config), old.id
    else:
        cfg, run_id = make_config(data, config=config, **overrides), None
    validate_config(cfg)
    device = distributed.device_for(cfg.train.device)
    distributed.init(device.type)
    device = distributed.device_for(cfg.train.device)
    if dataset is None:
        if not cfg.data.data:
            raise UserError("No data given. Pass --data (e.g. builtin:fashion-mnist, a folder).")
        d = cfg.data
        dataset = load_dataset(d.data, strict=d.strict, path_column=d.path_column,
                               label_column=d.label_column, allow_outside_root=d.allow_outside_root,
                               text_column=d.text_column)
    check_labelled(dataset)
    if splits is None:
        splits = make_splits(dataset, seed=cfg.seed, labels_per_class=cfg.data.labels_per_class,
                             val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction,
                             max_test=cfg.data.max_test)
    strategy = STRATEGIES.get(cfg.strategy)()
    seed_everything(cfg.seed)
    backbone = create_backbone(cfg.model, pretrained=strategy.pretrained, weights=cfg.weights,
                               image_size=cfg.data.image_size, max_length=cfg.data.max_length)
    check_modality(backbone.data_config, dataset, cfg.model)
    truncated = truncation(dataset, backbone.data_config,
                           np.concatenate([splits.train, splits.val, splits.test]))
    if truncated and truncated["truncated"]:
        progress.info(f"{truncated['truncated']} of {truncated['texts']} texts are longer than "
                      f"{truncated['max_length']} tokens and are truncated (longest: "
                      f"{truncated['longest']})")
    t_loaded = time.perf_counter()
    if distributed.is_main():
        if run_id is None:
            run_id = store.create("fit", cfg.to_dict(), seed=cfg.seed, parent=parent,
                                  data_fingerprint=dataset.fingerprint)
        else:
            store.claim(run_id)
        store.update(run_id, extra={
            "dataset": dataset.summary(), "backbone": backbone.identity,
            "skipped": [dataclasses.asdict(s) for s in dataset.skipped[:1000]],
            "splits": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
            "world_size": distributed.world_size(), "device": str(device),
            **({"truncation": truncated} if truncated else {}), **(record or {}),
        })
    run_id = distributed.broadcast_object(run_id)
    run_dir = store.artifact_dir(run_id)
    ctx = FitContext(cfg, dataset, splits, backbone, device, FeatureCache(store.root / "features"),
                     run_dir, resume=bool(resume))
    progress.info(f"run {run_id}: {strategy.name} {cfg.model} on {dataset.name} "
                  f"({len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test)")
    if len(splits.val) == 0:
        progress.info("no validation split (one label per class): the linear head uses a fixed "
                      f"C={NO_VALIDATION_C}, training runs all {cfg.train.epochs} epochs and keeps "
                      "the last one")
    with recording(store, run_id, main=distributed.is_main()):
        result = strategy.fit(ctx)
        t_fit = time.perf_counter()
        val_proba = result.val_proba if result.val_proba is not None else _evaluate(
            ctx, result, splits.val)
        metrics = _metrics(ctx, splits.val, val_proba, "val_")
        test_proba = _evaluate(ctx, result, splits.test)
        metrics.update(_metrics(ctx, splits.test, test_proba, "test_"))
    timings = {"load": t_loaded - t_start, "fit": t_fit - t_loaded,
               "evaluate": time.perf_counter() - t_fit, "total": time.perf_counter() - t_start}
    if distributed.is_main():
        save_model(result.model, run_dir / "model", dataset.classes,
                   extra={"strategy": strategy.name, "run": run_id})
        atomic_write_json(run_dir / "config.json", cfg.to_dict())
        atomic_write_json(run_dir / "history.json", result.history)
        extra = {"strategy_info": result.info, "history": result.history}
        if len(splits.test):
            y_test = dataset.labels[splits.test]
            save_predictions(run_dir, splits.test, y_test, test_proba)
            extra["calibration"] = calibration_bins(y_test, test_proba)
        store.update(run_id, extra=extra)
        store.finish(run_id, metrics=metrics, timings=timings)
    distributed.barrier()
    return FitResult(run_id, result.info.get("chosen", strategy.name), metrics, result.model,
                     list(dataset.classes), result.history, result.info, run_dir)


def load_run_model(run: str, store: RunStore | None = None) -> tuple[TransferModel, list[str], str]:
    """The saved model of a finished run: (model, classes, run id)."""
    store = store or RunStore()
    record = store.get(run)
    folder = store.artifact_dir(record.id) / "model"
    if record.status != "done" or not (folder / "model.json").is_file():
        raise UserError(f"Run {record.id} ({record.kind}, {record.status}) has no saved model. "
                        "Use a finished fit run (see `transferkit runs list`).")
    model, classes = load_model(folder)
    return model, classes, record.id


def predict(
    run: str, inputs: str | Dataset, *, batch_size: int = 64, device: str = "auto",
    store: RunStore | None = None,
) -> list[dict[str, Any]]:
    """Predictions of a finished run for ``inputs`` (an image folder, file, or dataset spec):
    one dict per example with ``item``, ``prediction``, ``confidence`` and per-class ``p_*``."""
    model, classes, _ = load_run_model(run, store)
    dataset = load_dataset(inputs, validate=False) if isinstance(inputs, str) else inputs
    if len(dataset) == 0:
        raise UserError(f"No usable inputs in {inputs}.")
    check_modality(model.data_config, dataset, f"The model of run {run}")
    dev = distributed.device_for(device)
    logits = predict_logits(model, dataset, np.arange(len(dataset)), device=dev,
                            batch_size=batch_size, shard=False)
    proba = softmax(logits)
    rows = []
    for i, p in enumerate(proba):
        row = {"item": dataset.item_name(i), "prediction": classes[int(p.argmax())],
               "confidence": float(p.max())}
        row.update({f"p_{c}": float(v) for c, v in zip(classes, p)})
        rows.append(row)
    return rows
