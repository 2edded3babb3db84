"""``zeroshot``: classify by similarity to embedded label descriptions, with no training.

The method (templates, label embeddings, prototypes) is in
:mod:`transferkit.strategies.zeroshot`. The run is recorded in the store (kind ``zeroshot``).
When the data has labels it is evaluated on the test examples ``fit`` holds out for the same
seed (so ``transferkit runs compare`` can pair it with fit runs), and only those (and the
few-shot support) are embedded; unlabelled data is embedded whole. The predictions go to
``predictions.csv``. The classifier is saved as an ordinary model whose head holds the scaled
prototypes, so ``transferkit predict --run ID`` works on it.
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
from transferkit.config import ZeroShotConfig, check_ranges
from transferkit.data import load_dataset, make_splits
from transferkit.data.base import Dataset
from transferkit.data.batches import truncation
from transferkit.data.splits import check_labels
from transferkit.errors import UserError
from transferkit.evaluation.metrics import classification_metrics, softmax
from transferkit.features import extract_features
from transferkit.runs._fitting import feature_cache
from transferkit.runs._recorded import RecordedRun
from transferkit.store import RunStore
from transferkit.store.artifacts import save_predictions
from transferkit.strategies.zeroshot import (
    check_zeroshot_model,
    label_pairs,
    logit_scale,
    parse_labels,
    prototypes,
    templates_of,
    too_few,
)
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import TransferModel


@dataclass
class ZeroShotResult:
    run_id: str
    classes: list[str]
    descriptions: list[str]
    metrics: dict[str, Any]
    n_examples: int
    shots: int
    predictions_file: Path
    rows: list[dict[str, Any]] = field(default_factory=list)


def _evaluation(dataset: Dataset, cfg: ZeroShotConfig) -> tuple[np.ndarray, np.ndarray]:
    """(support indices, evaluated indices): fit's training pool and test split for the seed."""
    everything = np.arange(len(dataset))
    if dataset.labels is None:
        if cfg.shots:
            raise UserError(f"--shots {cfg.shots} needs labelled data; {dataset.name} has none.")
        return everything[:0], everything
    try:
        check_labels(dataset.labels, dataset.classes, f"The dataset {dataset.name!r}")
    except UserError:
        if cfg.shots:
            raise
        return everything[:0], everything  # e.g. one class only: evaluate on all of it
    splits = make_splits(
        dataset, seed=cfg.seed, labels_per_class=cfg.shots or None, max_test=cfg.max_test
    )
    support = np.sort(np.concatenate([splits.train, splits.val])) if cfg.shots else everything[:0]
    return support, splits.test


def _class_map(dataset: Dataset, names: list[str]) -> np.ndarray | None:
    """For each of the data's classes, its position among the described ``names``."""
    if dataset.labels is None:
        return None
    pos = {n.lower(): j for j, n in enumerate(names)}
    return np.array([pos[c.lower()] for c in dataset.classes], dtype=np.int64)


def _load(data: str | Dataset | None, cfg: ZeroShotConfig) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if not cfg.data:
        raise UserError("No data given. Pass --data (a text table, or images for CLIP).")
    return load_dataset(
        cfg.data,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        strict=cfg.strict,
        validate=False,
    )


def zeroshot(
    data: str | Dataset | None = None,
    *,
    config: ZeroShotConfig | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> ZeroShotResult:
    """Classify ``data`` by similarity to the class descriptions (see the module docstring)."""
    t0 = time.perf_counter()
    cfg, pairs = _config(data, config, overrides)
    dataset = _load(data, cfg)
    pairs = label_pairs(pairs, dataset)
    templates = templates_of(cfg.template, dataset.modality)
    store = store or RunStore()
    device = distributed.device_for(cfg.device)
    backbone = _backbone(cfg, dataset)
    support, evaluated = _evaluation(dataset, cfg)
    names, descriptions = [n for n, _ in pairs], [d for _, d in pairs]
    to_class = _class_map(dataset, names)
    truncated = truncation(dataset, backbone.data_config)
    with RecordedRun(
        store,
        "zeroshot",
        dataclasses.asdict(cfg),
        seed=cfg.seed,
        data_fingerprint=dataset.fingerprint,
    ) as run:
        run.note(
            dataset=dataset.summary(),
            backbone=backbone.identity,
            classes=names,
            descriptions=descriptions,
            templates=templates,
            support=int(len(support)),
            **({"truncation": truncated} if truncated else {}),
        )
        progress.info(
            f"run {run.id}: zero-shot {cfg.model} on {dataset.name}, {len(names)} "
            "classes" + (f", {cfg.shots} shots per class" if cfg.shots else "")
        )
        embed = _Embedder(backbone, dataset, device, store, cfg.batch_size)
        protos = _prototypes(embed, pairs, templates, support, to_class)
        scale = logit_scale(backbone)
        proba = softmax((scale * embed(evaluated) @ protos.T).numpy())
        metrics = _test_metrics(run, dataset, evaluated, names, proba, to_class)
        rows = _rows(dataset, evaluated, names, proba, to_class)
        run.write_csv("predictions.csv", rows)
        _save_classifier(run, backbone, names, scale * protos)
        run.finish(metrics, {"total": time.perf_counter() - t0})
    return ZeroShotResult(
        run.id,
        names,
        descriptions,
        metrics,
        len(evaluated),
        cfg.shots,
        run.dir / "predictions.csv",
        rows,
    )


def _config(
    data: str | Dataset | None, config: ZeroShotConfig | None, overrides: dict[str, Any]
) -> tuple[ZeroShotConfig, list[tuple[str, str]] | None]:
    """The settings and the classes given with ``--labels`` (None: the data's own), refused
    before anything is loaded when they cannot work (fewer than two classes)."""
    cfg = dataclasses.replace(config or ZeroShotConfig(), **overrides)
    cfg = dataclasses.replace(cfg, data=data) if isinstance(data, str) else cfg
    check_ranges(cfg)
    pairs = parse_labels(cfg.labels)
    if pairs is not None and len(pairs) < 2:
        raise too_few(pairs)
    return cfg, pairs


def _backbone(cfg: ZeroShotConfig, dataset: Dataset) -> Any:
    """The model, refused when it cannot embed both the data and the label descriptions."""
    backbone = create_backbone(
        cfg.model, weights=cfg.weights, image_size=cfg.image_size, max_length=cfg.max_length
    )
    check_zeroshot_model(backbone, dataset, cfg.model)
    return backbone


@dataclass
class _Embedder:
    """Normalised embeddings of examples of ``dataset``, through the shared feature cache."""

    backbone: Any
    dataset: Dataset
    device: torch.device
    store: RunStore
    batch_size: int

    def __call__(self, indices: np.ndarray) -> torch.Tensor:
        feats = extract_features(
            self.backbone,
            self.dataset,
            indices,
            device=self.device,
            cache=feature_cache(self.store),
            batch_size=self.batch_size,
            description="embed",
        )
        return torch.nn.functional.normalize(torch.from_numpy(feats), dim=-1)


def _prototypes(
    embed: _Embedder,
    pairs: list[tuple[str, str]],
    templates: list[str],
    support: np.ndarray,
    to_class: np.ndarray | None,
) -> torch.Tensor:
    """One unit-length prototype per class: its embedded descriptions, plus its few-shot
    support examples when there are any."""
    protos = prototypes(embed.backbone, pairs, templates, embed.device)
    if len(support):
        ys = torch.as_tensor(to_class[embed.dataset.labels[support]])
        protos = torch.nn.functional.normalize(
            protos.clone().index_add_(0, ys, embed(support)), dim=-1
        )
    return protos


def _test_metrics(
    run: RecordedRun,
    dataset: Dataset,
    evaluated: np.ndarray,
    names: list[str],
    proba: np.ndarray,
    to_class: np.ndarray | None,
) -> dict[str, Any]:
    """Test metrics and the saved test predictions, when the data has labels."""
    if to_class is None or not len(evaluated):
        return {}
    y = to_class[dataset.labels[evaluated]]
    if run.main:
        save_predictions(run.dir, evaluated, y, proba)
    return classification_metrics(y, proba, names, prefix="test_")


def _save_classifier(run: RecordedRun, backbone: Any, names: list[str], head: torch.Tensor):
    """The classifier as an ordinary model (the scaled prototypes as its head), so ``predict
    --run`` serves it."""
    model = TransferModel(backbone, len(names))
    with torch.no_grad():
        model.head.weight.copy_(head)
        model.head.bias.zero_()
    run.save_model(model, names, strategy="zeroshot")


def _rows(
    dataset: Dataset,
    indices: np.ndarray,
    names: list[str],
    proba: np.ndarray,
    to_class: np.ndarray | None,
) -> list[dict[str, Any]]:
    rows = []
    for i, p in zip((int(i) for i in indices), proba):
        row: dict[str, Any] = {
            "item": dataset.item_name(i),
            "prediction": names[int(p.argmax())],
            "confidence": round(float(p.max()), 6),
        }
        if to_class is not None:
            row["label"] = names[int(to_class[dataset.labels[i]])]
        row.update({f"p_{c}": round(float(v), 6) for c, v in zip(names, p)})
        rows.append(row)
    return rows
