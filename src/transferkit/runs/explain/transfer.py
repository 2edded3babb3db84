"""What a run's transfer changed, for ``explain``: the source model rebuilt from the run's
config (``zoo.create_backbone`` of its ``--model``, with pretrained weights), then on target
examples (the run's own data, or ``--transfer-data``; a seeded sample of
``--transfer-examples``): the per-block relative weight change and linear CKA, their reading
with the ``--unfreeze K`` it suggests, and, for a source model with its own head (ImageNet),
which source classes each target class is predicted as."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from transferkit.config import ExplainConfig, FitConfig
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.explanation.change import block_features, cka_profile, read_profile, weight_change
from transferkit.explanation.mapping import source_class_table
from transferkit.store import RunRecord
from transferkit.strategies import STRATEGIES
from transferkit.zoo import create_backbone
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import TransferModel

#: Below this relative change in every block, the backbone counts as not trained.
UNCHANGED = 1e-6


def _source_of(record: RunRecord) -> tuple[str | None, str]:
    """The source model's name, or None and why there is none."""
    c = record.config
    if record.kind == "ensemble":
        runs = ", ".join(m.get("run", "?") for m in c.get("members") or [])
        return None, (
            "an ensemble averages its members' predictions and changed no weights itself; "
            f"explain a member run to see what its transfer changed (runs {runs})"
        )
    if record.kind not in ("fit", "adapt") or not c.get("model"):
        return None, f"a {record.kind} run has no source model to compare with"
    strategy = (record.extra.get("strategy_info") or {}).get("chosen") or c.get("strategy")
    fresh = strategy in STRATEGIES and not STRATEGIES.get(strategy).pretrained
    if fresh or c.get("scratch"):
        return (
            None,
            f"it was trained from fresh weights ({strategy if fresh else '--scratch'}), so no "
            "source model's knowledge went into it",
        )
    return str(c["model"]), ""


def _target_data(record: RunRecord, cfg: ExplainConfig) -> Dataset:
    if cfg.transfer_data:
        return load_dataset(
            cfg.transfer_data, text_column=cfg.text_column, label_column=cfg.label_column
        )
    if record.kind == "fit":
        from transferkit.runs._fitting import load_fit_data

        return load_fit_data(FitConfig.from_dict(record.config))
    c = record.config
    return load_dataset(
        str(c.get("target")), text_column=c.get("text_column"), label_column=c.get("label_column")
    )


def _source(name: str, record: RunRecord, model: TransferModel) -> Backbone:
    dc = model.data_config
    return create_backbone(
        name,
        pretrained=True,
        weights=record.config.get("weights"),
        image_size=dc.input_size[-1] if dc.modality == "image" else None,
        max_length=dc.max_length if dc.modality == "text" else None,
    )


def _clean(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def what_transferred(
    record: RunRecord, model: TransferModel, cfg: ExplainConfig, device: torch.device
) -> dict[str, Any]:
    """The analysis as plain JSON values; ``analysed`` says whether anything was compared and
    ``notes`` why not, or what was left out."""
    out: dict[str, Any] = {"analysed": False, "source": None, "notes": []}
    name, why = _source_of(record)
    if name is None:
        out["notes"].append(f"Nothing to compare: {why}.")
        return out
    out["source"] = name
    try:
        source = _source(name, record, model)
        data = _target_data(record, cfg)
    except UserError as e:
        out["notes"].append(f"Nothing was compared: {e}")
        return out
    if data.modality != model.data_config.modality:
        out["notes"].append(f"Nothing was compared: {data.name} holds {data.modality} data.")
        return out
    change = weight_change(source, model.backbone)
    trained = any(
        not math.isnan(c["weight_change"]) and c["weight_change"] > UNCHANGED for c in change
    )
    has_head = getattr(source, "source_head", None) is not None and data.labels is not None
    if not trained:
        out["notes"].append(
            "The backbone is the source's, unchanged (a frozen-feature "
            "strategy such as linear): only the new head was trained."
        )
    if not (trained or has_head):
        return out
    idx = _sample(data, cfg)
    out.update(analysed=True, examples=int(len(idx)), data=data.name, trained=trained)
    src_blocks, src_feats = block_features(source, _loader(data, idx, model, cfg), device)
    if trained:
        trn_blocks, _ = block_features(model.backbone, _loader(data, idx, model, cfg), device)
        cka = cka_profile(src_blocks, trn_blocks)
        out["blocks"] = [
            {**c, "weight_change": _clean(c["weight_change"]), "cka": _clean(k)}
            for c, k in zip(change, cka)
        ]
        out["reading"], out["suggested_unfreeze"] = read_profile(
            cka, [c["weight_change"] for c in change], flag=record.kind == "fit"
        )
    if has_head:
        out["source_classes"] = _mapping(source, src_feats, data, idx)
    elif getattr(source, "source_head", None) is not None:
        out["notes"].append(
            f"{data.name} has no labels, so the source classes of each target class are not shown."
        )
    return out


def _sample(data: Dataset, cfg: ExplainConfig) -> np.ndarray:
    n = len(data)
    if n <= cfg.transfer_examples:
        return np.arange(n)
    return np.sort(np.random.default_rng(cfg.seed).choice(n, cfg.transfer_examples, replace=False))


def _loader(data: Dataset, idx: np.ndarray, model: TransferModel, cfg: ExplainConfig):
    from torch.utils.data import DataLoader

    from transferkit.data.batches import examples

    items, collate = examples(data, idx, model.data_config)
    return DataLoader(items, batch_size=max(cfg.batch_size, 32), collate_fn=collate)


@torch.no_grad()
def _mapping(source: Backbone, feats: np.ndarray, data: Dataset, idx: np.ndarray) -> list:
    head = source.source_head.to("cpu")
    probs = torch.softmax(head(torch.from_numpy(feats).float()), dim=1).numpy()
    return source_class_table(
        probs, data.labels[idx], list(data.classes), list(source.source_classes)
    )
