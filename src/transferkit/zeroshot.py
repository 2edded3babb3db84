"""``zeroshot``: classify by similarity to embedded label descriptions, with no training.

Each class name (or its description) is put into templates ("This text is about {}.", or
"a photo of a {}." for images), embedded with the text encoder - or with CLIP's text tower for
images (Radford et al., 2021, arXiv:2103.00020, where averaging over several templates is
"prompt ensembling") - and every example goes to the class of highest cosine similarity.
Sentence encoders put texts and short label descriptions in one space, which makes this work
for text too (the "label embedding" zero-shot set-up, e.g. Yin et al., 2019,
arXiv:1909.00161). With ``shots`` > 0 a few labelled examples per class join the class's
description in its prototype (the normalised sum), as in prototypical networks (Snell et al.,
2017, arXiv:1703.05175).

The run is recorded in the store (kind ``zeroshot``). When the data has labels it is evaluated
on the test examples ``fit`` holds out for the same seed (so ``transferkit runs compare`` can
pair it with fit runs), and only those (and the few-shot support) are embedded; unlabelled
data is embedded whole. The predictions go to ``predictions.csv``. The classifier
is saved as an ordinary model whose head holds the scaled prototypes, so ``transferkit
predict --run ID`` works on it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
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
from transferkit.data.batches import TextCollate, check_modality, truncation
from transferkit.data.splits import check_labels
from transferkit.errors import UserError
from transferkit.evaluation.metrics import classification_metrics
from transferkit.evaluation.predict import softmax
from transferkit.features import FeatureCache, extract_features
from transferkit.store import RunStore, recording
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import TransferModel, atomic_write_bytes, save_model

TEMPLATES = {"text": "This text is about {}.", "image": "a photo of a {}."}
TEXT_SCALE = 20.0  # softmax temperature for cosine similarities of text encoders


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


def parse_labels(labels: str | list[str] | None) -> list[tuple[str, str]] | None:
    """``"a,b"`` or ``"a=desc a,b=desc b"`` -> [(name, description)]; None when not given."""
    if labels is None:
        return None
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    pairs = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        name, _, desc = item.partition("=")
        pairs.append((name.strip(), desc.strip() or name.strip()))
    names = [n for n, _ in pairs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(f"--labels names {', '.join(map(repr, dupes))} more than once; give "
                        "each class once.")
    return pairs


def _too_few(pairs: list[tuple[str, str]]) -> UserError:
    return UserError(f"Zero-shot classification needs at least two classes; got {len(pairs)} "
                     f"({', '.join(n for n, _ in pairs) or 'none'}). Give the candidate "
                     "classes with --labels 'a,b,...'.")


def _classes(pairs: list[tuple[str, str]] | None, dataset: Dataset) -> list[tuple[str, str]]:
    if pairs is None:
        if not dataset.classes:
            raise UserError(
                f"{dataset.name} has no labels and no --labels were given, so there are no "
                "classes to choose from. Name them: --labels 'cat,dog' (or 'name=description' "
                "pairs).")
        pairs = [(c, c.replace("_", " ")) for c in dataset.classes]
    if len(pairs) < 2:
        raise _too_few(pairs)
    if dataset.labels is not None:
        names = {n.lower() for n, _ in pairs}
        unknown = [c for c in dataset.classes if c.lower() not in names]
        if unknown:
            raise UserError(
                f"The labels of {dataset.name} include {', '.join(map(repr, unknown[:5]))}, "
                f"which --labels does not name (it names {', '.join(n for n, _ in pairs)}). "
                "Add them to --labels (name=description pairs keep the data's names), or "
                "drop --labels to use the data's class names.")
    return pairs


def _evaluation(dataset: Dataset, cfg: ZeroShotConfig) -> tuple[np.ndarray, np.ndarray]:
    """(support indices, evaluated indices): fit's training pool and test split for the seed."""
    everything = np.arange(len(dataset))
    if dataset.labels is None:
        if cfg.shots:
            raise UserError(f"--shots {cfg.shots} needs labelled data; {dataset.name} has none.")
        return everything[:0], everything
    if cfg.shots < 0:
        raise UserError(f"--shots must be 0 or more, got {cfg.shots}.")
    try:
        check_labels(dataset.labels, dataset.classes, f"The dataset {dataset.name!r}")
    except UserError:
        if cfg.shots:
            raise
        return everything[:0], everything  # e.g. one class only: evaluate on all of it
    splits = make_splits(dataset, seed=cfg.seed, labels_per_class=cfg.shots or None,
                         max_test=cfg.max_test)
    support = np.sort(np.concatenate([splits.train, splits.val])) if cfg.shots else everything[:0]
    return support, splits.test


@torch.no_grad()
def embed_descriptions(backbone: Any, texts: list[str], device: torch.device) -> torch.Tensor:
    """L2-normalised embeddings of label descriptions in the data's embedding space."""
    if hasattr(backbone, "encode_text"):
        return backbone.encode_text(texts, device=device)
    dc = backbone.data_config
    x = TextCollate(dc.tokenizer, dc.max_length).encode(texts)
    backbone.eval().to(device)
    f = backbone.forward_features({k: v.to(device) for k, v in x.items()}).float().cpu()
    return torch.nn.functional.normalize(f, dim=-1)


def prototypes(backbone: Any, pairs: list[tuple[str, str]], templates: list[str],
               device: torch.device) -> torch.Tensor:
    """(K, D): per class, the normalised mean over templates of its description's embedding."""
    k = len(pairs)
    texts = [t.replace("{}", desc) for t in templates for _, desc in pairs]
    emb = embed_descriptions(backbone, texts, device).reshape(len(templates), k, -1)
    return torch.nn.functional.normalize(emb.mean(0), dim=-1)


def _check_model(backbone: Any, dataset: Dataset, model: str) -> None:
    if dataset.modality == "image" and not hasattr(backbone, "encode_text"):
        raise UserError(f"{model} cannot embed label descriptions, so it cannot classify "
                        f"images zero-shot. Use a CLIP model (hf:PATH to a CLIP folder).")
    if dataset.modality == "text" and backbone.data_config.modality != "text":
        raise UserError(f"{model} is an image model; zero-shot text classification needs a "
                        "text encoder such as minilm-l6 or hf:PATH.")
    check_modality(backbone.data_config, dataset, model)


def zeroshot(data: str | Dataset | None = None, *, config: ZeroShotConfig | None = None,
             store: RunStore | None = None, **overrides: Any) -> ZeroShotResult:
    """Classify ``data`` by similarity to the class descriptions (see the module docstring)."""
    t0 = time.perf_counter()
    cfg = dataclasses.replace(config or ZeroShotConfig(), **overrides)
    if isinstance(data, str):
        cfg = dataclasses.replace(cfg, data=data)
    check_ranges(cfg)
    pairs = parse_labels(cfg.labels)
    if pairs is not None and len(pairs) < 2:
        raise _too_few(pairs)  # before anything is loaded
    if isinstance(data, Dataset):
        dataset = data
    elif cfg.data:
        dataset = load_dataset(cfg.data, text_column=cfg.text_column,
                               label_column=cfg.label_column, validate=False)
    else:
        raise UserError("No data given. Pass --data (a text table, or images for CLIP).")
    pairs = _classes(pairs, dataset)
    store = store or RunStore()
    device = distributed.device_for(cfg.device)
    backbone = create_backbone(cfg.model, image_size=cfg.image_size, max_length=cfg.max_length)
    _check_model(backbone, dataset, cfg.model)
    templates = [t.strip() for t in (cfg.template or TEMPLATES[dataset.modality]).split("|")
                 if t.strip()]
    if any("{}" not in t for t in templates):
        raise UserError(f"Each --template needs a {{}} where the class goes; got {templates}.")
    support, evaluated = _evaluation(dataset, cfg)
    names = [n for n, _ in pairs]
    to_class = None
    if dataset.labels is not None:
        pos = {n.lower(): j for j, n in enumerate(names)}
        to_class = np.array([pos[c.lower()] for c in dataset.classes], dtype=np.int64)
    run_id = store.create("zeroshot", dataclasses.asdict(cfg), seed=cfg.seed,
                          data_fingerprint=dataset.fingerprint)
    run_dir = store.artifact_dir(run_id)
    truncated = truncation(dataset, backbone.data_config)
    store.update(run_id, extra={"dataset": dataset.summary(), "backbone": backbone.identity,
                                "classes": names, "descriptions": [d for _, d in pairs],
                                "templates": templates, "support": int(len(support)),
                                **({"truncation": truncated} if truncated else {})})
    progress.info(f"run {run_id}: zero-shot {cfg.model} on {dataset.name}, {len(names)} classes"
                  + (f", {cfg.shots} shots per class" if cfg.shots else ""))
    with recording(store, run_id):
        protos = prototypes(backbone, pairs, templates, device)
        cache = FeatureCache(store.root / "features")
        def embed(indices: np.ndarray) -> torch.Tensor:
            return torch.nn.functional.normalize(torch.from_numpy(extract_features(
                backbone, dataset, indices, device=device, cache=cache,
                batch_size=cfg.batch_size, description="embed")), dim=-1)

        if len(support):
            ys = torch.as_tensor(to_class[dataset.labels[support]])
            summed = protos.clone().index_add_(0, ys, embed(support))
            protos = torch.nn.functional.normalize(summed, dim=-1)
        scale = float(getattr(backbone, "logit_scale", TEXT_SCALE))
        proba = softmax((scale * embed(evaluated) @ protos.T).numpy())
        metrics: dict[str, Any] = {}
        if to_class is not None and len(evaluated):
            y = to_class[dataset.labels[evaluated]]
            metrics = classification_metrics(y, proba, names, prefix="test_")
            from transferkit.api import save_predictions

            save_predictions(run_dir, evaluated, y, proba)
        rows = _rows(dataset, evaluated, names, proba, to_class)
        predictions = run_dir / "predictions.csv"
        _write_csv(predictions, rows)
        model = TransferModel(backbone, len(names))
        with torch.no_grad():
            model.head.weight.copy_(scale * protos)
            model.head.bias.zero_()
        save_model(model, run_dir / "model", names, extra={"strategy": "zeroshot", "run": run_id})
    store.finish(run_id, metrics=metrics, timings={"total": time.perf_counter() - t0})
    return ZeroShotResult(run_id, names, [d for _, d in pairs], metrics, len(evaluated),
                          cfg.shots, predictions, rows)


def _rows(dataset: Dataset, indices: np.ndarray, names: list[str], proba: np.ndarray,
          to_class: np.ndarray | None) -> list[dict[str, Any]]:
    rows = []
    for i, p in zip((int(i) for i in indices), proba):
        row: dict[str, Any] = {"item": dataset.item_name(i), "prediction": names[int(p.argmax())],
                               "confidence": round(float(p.max()), 6)}
        if to_class is not None:
            row["label"] = names[int(to_class[dataset.labels[i]])]
        row.update({f"p_{c}": round(float(v), 6) for c, v in zip(names, p)})
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["item"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())
