"""Attributions for ``explain``: the job (the inputs, checked, the method chosen for the
backbone, the classes to explain, the method's settings) and the loop that predicts and
attributes batch by batch, one row and one map per input and explained class. An ensemble is
explained as one model: its averaged prediction, through
:meth:`~transferkit.zoo.ensemble.EnsembleModel.forward`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from transferkit import progress
from transferkit.config import ExplainConfig
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.explanation import render
from transferkit.explanation.methods import METHODS, Method, Settings, choose
from transferkit.runs.explain.inputs import read_inputs, targets_of
from transferkit.zoo.checkpoint import TransferModel
from transferkit.zoo.ensemble import EnsembleModel

#: Median |delta| / |F(x) - F(baseline)| above which integrated gradients are called rough.
ROUGH_IG = 0.05


@dataclass
class Job:
    """What to attribute and how: the inputs, the method and its settings, the classes."""

    dataset: Dataset
    indices: np.ndarray
    method: Method
    targets: list[int | None]
    settings: Settings


@dataclass
class Attributions:
    """One row per (input, explained class), its map (an (H, W) array in [0, 1] for images,
    one score per token for texts), its tokens (texts), and integrated gradients'
    convergence deltas (None for other methods)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    maps: list[np.ndarray] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)
    deltas: np.ndarray | None = None


def make_job(cfg: ExplainConfig, model: TransferModel, classes: list[str], run_id: str) -> Job:
    """The inputs of ``cfg`` checked against the model of run ``run_id``, with the method
    chosen for its backbone (and, for texts, the tokenizer's padding and special tokens)."""
    dataset, indices = read_inputs(cfg, model.data_config.modality, run_id)
    if isinstance(model, EnsembleModel):
        method = ensemble_method(cfg.method, model, run_id)
    else:
        method = choose(cfg.method, model.backbone, f"the model of run {run_id}")
    settings = Settings(ig_steps=cfg.ig_steps, window=cfg.window, batch_size=cfg.batch_size)
    if model.data_config.modality == "text":
        from transferkit.zoo.transformers_common import load_tokenizer

        tok = load_tokenizer(model.data_config.tokenizer)
        settings.pad_id = int(tok.pad_token_id or 0)
        settings.keep_ids = tuple(int(i) for i in tok.all_special_ids if i != tok.pad_token_id)
    return Job(dataset, indices, method, targets_of(cfg.classes, classes), settings)


def ensemble_method(name: str, model: EnsembleModel, run_id: str) -> Method:
    """The method that explains the averaged prediction of ensemble run ``run_id``: one that
    needs only the model's output (integrated gradients, occlusion), as the Grad-CAM family
    weights the feature maps of one network; ``auto`` is integrated gradients."""
    model.check_forward()
    modality = model.data_config.modality
    usable = [
        n
        for n in METHODS.list()
        if modality in METHODS.get(n).modalities and not METHODS.get(n).needs_conv
    ]
    name = "ig" if name == "auto" else name
    if name not in usable:
        METHODS.get(name)  # an unknown name: refused, with the close ones suggested
        raise UserError(
            f"--method {name} does not apply to run {run_id}, an ensemble of "
            f"{len(model.members)} models: the Grad-CAM family weights the feature maps of one "
            "network, and the ensemble averages several. Methods that apply: "
            f"{', '.join(usable)}; pass one of them with --method (or --method auto)."
        )
    return choose(name, model.members[model.heaviest].backbone, f"the model of run {run_id}")


def attribute(
    job: Job, model: TransferModel, classes: list[str], device: torch.device
) -> Attributions:
    """Predictions and one map per input and explained class, batch by batch."""
    from torch.utils.data import DataLoader

    from transferkit.data.batches import batch_len, examples, to_device

    items, collate = examples(job.dataset, job.indices, model.data_config)
    loader = DataLoader(items, batch_size=job.settings.batch_size, collate_fn=collate)
    res, deltas, start = Attributions(), [], 0
    for x, _ in progress.track(loader, f"explain ({job.method.name})"):
        idx = job.indices[start : start + batch_len(x)]
        start += len(idx)
        x = to_device(x, device)
        with torch.no_grad():
            proba = torch.softmax(model(x).float(), dim=1).cpu()
        pred = proba.argmax(1)
        for target in job.targets:
            t = pred if target is None else torch.full_like(pred, target)
            att = job.method.attribute(model, x, t.to(device), job.settings)
            for j, i in enumerate(idx):
                res.rows.append(_row(job.dataset, int(i), classes, proba[j], int(t[j])))
                res.maps.append(np.asarray(att.maps[j], dtype=np.float32))
                if att.delta is not None:
                    deltas.append(float(att.delta[j]))
                    res.rows[-1]["delta"] = deltas[-1]
                    rel = att.relative_delta()
                    if rel is not None:
                        res.rows[-1]["relative_delta"] = float(rel[j])
                res.tokens.append(_tokens(x, j, model) if isinstance(x, dict) else [])
                if isinstance(x, dict):
                    top = np.argsort(-res.maps[-1], kind="stable")[:5]
                    res.rows[-1]["top_tokens"] = [res.tokens[-1][k] for k in top]
                else:
                    res.rows[-1]["_image"] = render.display_image(
                        x[j], model.data_config.mean, model.data_config.std
                    )
    res.deltas = np.asarray(deltas, dtype=np.float32) if deltas else None
    _warn_if_rough(relative_deltas(res.rows), job.settings.ig_steps)
    return res


def _warn_if_rough(rel: list[float], ig_steps: int) -> None:
    """Say so when integrated gradients' maps are far from complete at this many steps."""
    if rel and float(np.median(rel)) > ROUGH_IG:
        progress.info(
            f"warning: integrated gradients' completeness error is "
            f"{100 * float(np.median(rel)):.0f}% (median) of the explained output's "
            f"change at --ig-steps {ig_steps}; the maps are rough. "
            f"More steps make them exact (4x the steps cut the error about 4-5x on "
            f"EfficientNet-Lite0), at that many times the cost."
        )


def relative_deltas(rows: list[dict[str, Any]]) -> list[float]:
    """Integrated gradients' completeness error of each row, relative to the output's change."""
    return [r["relative_delta"] for r in rows if "relative_delta" in r]


def _row(
    dataset: Dataset, i: int, classes: list[str], proba: torch.Tensor, target: int
) -> dict[str, Any]:
    """One input's row: its prediction, the explained class, and its true class and text
    when known."""
    p = int(proba.argmax())
    row = {
        "file": dataset.item_name(i),
        "predicted": classes[p],
        "confidence": float(proba[p]),
        "explained": classes[target],
        "explained_probability": float(proba[target]),
    }
    if dataset.labels is not None and dataset.classes[int(dataset.labels[i])] in classes:
        row["true"] = dataset.classes[int(dataset.labels[i])]  # right or wrong: by class name
    if dataset.modality == "text":
        row["text"] = str(dataset.load(i))[:300]
    return row


def _tokens(x: dict[str, torch.Tensor], j: int, model: TransferModel) -> list[str]:
    """The tokens of text ``j`` of the batch, padding left out (one per attribution score)."""
    from transferkit.zoo.transformers_common import load_tokenizer

    ids = x["input_ids"][j]
    mask = x.get("attention_mask", torch.ones_like(x["input_ids"]))[j].bool()
    return list(
        load_tokenizer(model.data_config.tokenizer).convert_ids_to_tokens(ids[mask].tolist())
    )
