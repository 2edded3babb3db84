"""Training and scoring one candidate (method x trade-off x seed) of an adaptation run.

Deep candidates train on the shared loop; shallow ones fit on cached features of the
pretrained backbone. Both end as a :class:`Outcome`: a plain backbone + linear head (what is
saved and served by ``predict``), the label-free selection scores computed from source
validation and unlabelled target data only, and the features of fixed samples that the
report's distances and t-SNE use. Target accuracy is computed elsewhere, afterwards.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.adaptation.base import (
    DEEP_METHODS,
    SHALLOW_METHODS,
    AdaptationNet,
    ShallowMethod,
    method_class,
)
from transferkit.adaptation.selection import cross_entropy, selection_risk
from transferkit.adaptation.shallow_heads import fit_head
from transferkit.adaptation.task import AdaptTask, embed
from transferkit.config import AdaptConfig
from transferkit.config.options import resolve
from transferkit.features.cache import FeatureCache
from transferkit.features.extract import extract_features
from transferkit.training import LoopSettings, run, seed_everything
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import TransferModel


@dataclass
class Outcome:
    model: TransferModel
    scores: dict[str, float]  # val_accuracy, val_loss, risk, dev / iwcv: label-free
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    space: tuple[np.ndarray, np.ndarray] | None = None  # (source, target) features of pad_*


def _options(registry, name: str, cfg: AdaptConfig) -> dict[str, Any]:
    """The method's own options from the run's flat ``options`` (defaults filled in)."""
    opts = resolve(registry, name, cfg.options)
    return dataclasses.asdict(opts) if opts is not None else {}


def candidate_name(method: str, trade_off: float | None) -> str:
    return method if trade_off is None else f"{method}@{trade_off:g}"


def candidates(cfg: AdaptConfig) -> list[tuple[str, float | None]]:
    """Every (method, trade-off) to train: one per trade-off for the methods that have one."""
    out = []
    for m in cfg.methods:
        if method_class(m).uses_trade_off:
            out += [(m, float(t)) for t in cfg.trade_offs]
        else:
            out.append((m, None))
    return out


def train_deep(
    backbone: Backbone,
    num_classes: int,
    data,
    idx: dict,
    cfg: AdaptConfig,
    method_name: str,
    trade_off: float,
    seed: int,
    device: torch.device,
    run_dir: Path | None,
    resume: bool = False,
) -> Outcome:
    """Train a fresh copy of ``backbone`` with a new head by the deep method (``resume``:
    continue from the checkpoint in ``run_dir`` when there is one)."""
    seed_everything(seed)
    method = DEEP_METHODS.get(method_name)(
        trade_off=trade_off, seed=seed, **_options(DEEP_METHODS, method_name, cfg)
    )
    classifier = TransferModel(copy.deepcopy(backbone), num_classes)
    net = AdaptationNet(classifier, method)
    backbone_lr = cfg.backbone_lr if cfg.backbone_lr is not None else (1.0 if cfg.scratch else 0.1)
    task = AdaptTask(
        net,
        data.source,
        idx["train"],
        idx["val"],
        data.view,
        idx["target"],
        opts=cfg,
        seed=seed,
        rule=cfg.select,
        backbone_lr=backbone_lr,
        selection_idx=(idx["sel_source"], idx["sel_target"]),
    )
    name = candidate_name(method_name, trade_off)
    result = run(task, _loop_settings(cfg, seed, run_dir, name), device, resume=resume)
    classifier.backbone.invalidate_identity()
    info = {
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "train_seconds": result.seconds,
        "backbone_lr": backbone_lr,
    }
    scores = _deep_scores(result.best)
    space = pad_space(classifier, data, idx, device, cfg)
    return Outcome(classifier, scores, result.history, info, space)


def _loop_settings(cfg: AdaptConfig, seed: int, run_dir: Path | None, name: str) -> LoopSettings:
    """The shared loop's settings: the best epoch by the label-free selection score (the
    validation loss breaking ties), checkpoints in the member's run folder."""
    return LoopSettings(
        epochs=cfg.epochs,
        amp=cfg.amp,
        patience=cfg.patience,
        monitor="val_selection",
        tie_break="val_loss",
        seed=seed,
        checkpoint_dir=(run_dir / "checkpoints") if run_dir else None,
        description=name,
    )


#: The best epoch's label-free scores a deep member keeps (without the ``val_`` prefix).
DEEP_SCORES = (
    "val_accuracy",
    "val_loss",
    "val_risk",
    "val_dev",
    "val_iwcv",
    "val_snd",
    "val_im",
    "val_unreliable",
)


def _deep_scores(best: dict[str, float]) -> dict[str, float]:
    """The best epoch's scores; its accuracy is the source validation accuracy."""
    scores = {k.removeprefix("val_"): float(best[k]) for k in DEEP_SCORES if k in best}
    scores["source_val_accuracy"] = scores.pop("accuracy", float("nan"))
    return scores


def pad_space(
    model: TransferModel, data, idx: dict, device: torch.device, cfg: AdaptConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``model``'s features of the fixed source and target samples (``pad_source``,
    ``pad_target``) that the proxy A-distance and the report's t-SNE use."""
    bs = cfg.batch_size * 2
    fs, _ = embed(model, data.source, idx["pad_source"], device, bs)
    ft, _ = embed(model, data.view, idx["pad_target"], device, bs)
    return fs, ft


def raw_features(
    backbone: Backbone,
    data,
    idx: dict,
    cfg: AdaptConfig,
    device: torch.device,
    cache: FeatureCache | None,
) -> dict[str, np.ndarray]:
    """Pretrained-backbone features of every index set a shallow candidate needs (cached)."""
    out = {}
    for key in ("train", "val", "target", "sel_source", "sel_target", "pad_source", "pad_target"):
        ds = data.view if key in ("target", "sel_target", "pad_target") else data.source
        out[key] = extract_features(
            backbone,
            ds,
            idx[key],
            device=device,
            cache=cache,
            batch_size=cfg.batch_size * 2,
            num_workers=cfg.num_workers,
            description=f"features ({key})",
        )
    return out


def fit_shallow(
    backbone: Backbone,
    num_classes: int,
    data,
    idx: dict,
    feats: dict,
    cfg: AdaptConfig,
    method_name: str,
    seed: int,
) -> Outcome:
    """Fit the shallow method on fixed features. Selection scores live in the space its
    head was trained on: the source through the method's source map, the target through its
    target map (for CORAL and importance weighting the target map is the identity)."""
    method: ShallowMethod = SHALLOW_METHODS.get(method_name)(
        seed=seed, **_options(SHALLOW_METHODS, method_name, cfg)
    )
    ys = data.source.labels[idx["train"]]
    (wm, bm), (w, b) = fit_head(method, feats["train"], ys, feats["target"], num_classes)
    model = TransferModel(copy.deepcopy(backbone), num_classes)
    with torch.no_grad():
        model.head.weight.copy_(w)
        model.head.bias.copy_(b)
    src_val = method.source_map(feats["val"])
    yv = data.source.labels[idx["val"]]
    logits = src_val @ wm.T + bm
    losses = cross_entropy(logits, yv)
    f_target = method.target_map(feats["sel_target"])
    risk = selection_risk(
        cfg.select,
        val_losses=losses,
        f_val=src_val,
        f_source=method.source_map(feats["sel_source"]),
        f_target=f_target,
        t_logits=f_target @ wm.T + bm,
        seed=seed,
    )
    scores = {
        "source_val_accuracy": float(np.mean(logits.argmax(1) == yv)),
        "loss": float(losses.mean()),
        **{k: float(v) for k, v in risk.items() if k != "fallback"},
    }
    space = (method.source_map(feats["pad_source"]), method.target_map(feats["pad_target"]))
    info = {"C": method.c}
    if hasattr(method, "dim_"):
        info["subspace_dim"] = int(method.dim_)
    if hasattr(method, "weights_"):
        info["weight_max"] = float(method.weights_.max())
    return Outcome(model, scores, [], info, space)
