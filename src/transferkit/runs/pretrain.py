"""``pretrain``: make one's own source model on the shared training loop, record it in the
store, and save it so the zoo serves it as ``run:ID`` (or by its ``--name``). The methods are
in :mod:`transferkit.pretraining`."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transferkit import distributed, progress
from transferkit.config import PretrainConfig, check_ranges
from transferkit.config.options import resolved_values
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.pretraining.base import METHODS
from transferkit.runs._recorded import RecordedRun, unfinished
from transferkit.store import RunStore
from transferkit.training import LoopSettings, run, seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import TransferModel


@dataclass
class PretrainResult:
    run_id: str
    name: str
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    artifact_dir: Path


def _split(dataset: Dataset, val_fraction: float, seed: int, max_examples: int | None):
    """Train / validation indices for pretraining. A dataset with an official test split keeps
    it out (only its training part is pretrained on), so that a later ``fit`` on the same data
    is tested on examples the source model never saw."""
    rng = np.random.default_rng(seed)
    pool = np.arange(len(dataset))
    if dataset.predefined is not None:
        pool = pool[np.asarray(dataset.predefined) != "test"]
    order = pool[rng.permutation(len(pool))]
    if max_examples:
        order = order[:max_examples]
    n_val = max(1, int(round(len(order) * val_fraction))) if len(order) > 10 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val]), len(dataset) - len(pool)


def make_pretrain_config(
    data: str | None, config: PretrainConfig | None, overrides: dict[str, Any]
) -> PretrainConfig:
    """PretrainConfig from keyword overrides (the methods' own options, e.g. ``latent_dim``,
    flat), checked, with the method's options resolved."""
    cfg = config or PretrainConfig()
    names = {f.name for f in dataclasses.fields(PretrainConfig)}
    options = {**cfg.options, **{k: v for k, v in overrides.items() if k not in names}}
    cfg = dataclasses.replace(
        cfg,
        **{k: v for k, v in overrides.items() if k in names},
        options=options,
        **({"data": data} if data is not None else {}),
    )
    METHODS.get(cfg.method)
    check_ranges(cfg)
    cfg = dataclasses.replace(cfg, options=resolved_values(METHODS, [cfg.method], cfg.options))
    if cfg.method == "contrastive" and cfg.batch_size < 2:
        raise UserError(
            "Contrastive pretraining needs a batch size of at least 2 (each image is "
            "contrasted with the others in its batch); use 64 or more."
        )
    if cfg.name and (":" in cfg.name or cfg.name.lower() != cfg.name):
        raise UserError(f"--name {cfg.name!r}: use lowercase letters, digits and dashes, no ':'.")
    return cfg


def _load(cfg: PretrainConfig, needs_labels: bool) -> Dataset:
    if not cfg.data:
        raise UserError("No source data given; pass --data.")
    dataset = load_dataset(cfg.data, strict=cfg.strict, validate=needs_labels)
    if dataset.modality != "image":
        raise UserError(
            f"pretrain works on images; {dataset.name} holds {dataset.modality} "
            "data. For text, start from a pretrained encoder (minilm-l6, hf:PATH) "
            "and use `transferkit fit` (finetune, lora or contrastive)."
        )
    if needs_labels and (dataset.labels is None or dataset.num_classes < 2):
        raise UserError(
            f"{cfg.method} pretraining needs labels, and {dataset.name} has "
            f"{'none' if dataset.labels is None else 'a single class'}. Use a "
            "folder with one sub-folder per class, or an unsupervised method "
            "(--method autoencoder, vae or contrastive)."
        )
    return dataset


def pretrain(
    data: str | None = None,
    *,
    config: PretrainConfig | None = None,
    resume: str | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> PretrainResult:
    """Pretrain ``arch`` on ``data`` with ``method``; returns the recorded, saved source model."""
    store = store or RunStore()
    if resume:
        cfg = PretrainConfig.from_dict(unfinished(store, resume, "pretrain").config)
    else:
        cfg = _new_config(data, config, overrides)
    task_cls = METHODS.get(cfg.method)
    device = distributed.setup(cfg.device)
    t0 = time.perf_counter()
    dataset = _load(cfg, task_cls.needs_labels)
    seed_everything(cfg.seed)
    backbone = create_backbone(
        cfg.arch, pretrained=cfg.from_pretrained, weights=cfg.weights, image_size=cfg.image_size
    )
    train, val, left_out = _split(dataset, cfg.val_fraction, cfg.seed, cfg.max_examples)
    if len(train) < 2:
        raise UserError(f"{dataset.name} has too few usable examples ({len(dataset)}) to pretrain.")
    with RecordedRun(
        store,
        "pretrain",
        dataclasses.asdict(cfg),
        seed=cfg.seed,
        resume=resume,
        data_fingerprint=dataset.fingerprint,
        name=cfg.name,
    ) as rec:
        task = task_cls(backbone, dataset, train, val, cfg, device)
        _announce(rec.id, cfg, dataset, len(train), len(val), left_out)
        result = run(task, _loop_settings(cfg, task, rec.dir), device, resume=bool(resume))
        encoder = _save_source_model(rec, task, cfg, dataset)
        rec.write_json("history.json", result.history)
        metrics = {k: v for k, v in result.best.items() if k.startswith("val_")}
        rec.finish(
            metrics,
            {"total": time.perf_counter() - t0, "train": result.seconds},
            history=result.history,
            dataset=dataset.summary(),
            best_epoch=result.best_epoch,
            splits={"train": len(train), "val": len(val), "official_test_left_out": int(left_out)},
            backbone_info=_backbone_info(encoder),
        )
    return PretrainResult(rec.id, cfg.name or f"run:{rec.id}", metrics, result.history, rec.dir)


def _new_config(
    data: str | None, config: PretrainConfig | None, overrides: dict[str, Any]
) -> PretrainConfig:
    """The settings of a new run, refused when ``--name`` is taken by a zoo model."""
    cfg = make_pretrain_config(data, config, overrides)
    if cfg.name:
        from transferkit.zoo import BACKBONES

        if cfg.name in BACKBONES:
            raise UserError(f"--name {cfg.name} is a zoo model already; pick another name.")
    return cfg


def _announce(
    run_id: str, cfg: PretrainConfig, dataset: Dataset, n_train: int, n_val: int, left_out: int
) -> None:
    progress.info(
        f"run {run_id}: {cfg.method} pretraining of {cfg.arch} on {dataset.name} "
        f"({n_train} train / {n_val} val"
        + (f"; its official test split of {left_out} is left out" if left_out else "")
        + ")"
    )


def _loop_settings(cfg: PretrainConfig, task: Any, run_dir: Path) -> LoopSettings:
    """The shared loop's settings: the method's own monitored metric, checkpoints in the run."""
    return LoopSettings(
        epochs=cfg.epochs,
        amp=cfg.amp,
        patience=cfg.patience,
        monitor=task.monitor,
        tie_break=None,
        seed=cfg.seed,
        checkpoint_dir=run_dir / "checkpoints",
        description=f"pretrain {cfg.method}",
    )


def _save_source_model(
    rec: RecordedRun, task: Any, cfg: PretrainConfig, dataset: Dataset
) -> Backbone:
    """The pretrained encoder, with the source head when the method has one (supervised),
    saved as the run's model so the zoo serves it; returns the encoder."""
    encoder = task.transferred()
    head, classes = task.source_head()
    model = TransferModel(encoder, head.out_features if head is not None else 0)
    if head is not None:
        model.head.load_state_dict(head.state_dict())
    rec.save_model(model, classes or [], method=cfg.method, source_data=dataset.fingerprint)
    return encoder


def _backbone_info(encoder: Backbone) -> dict[str, Any]:
    """What the zoo listing shows about the source model without loading it."""
    return {
        "modality": encoder.data_config.modality,
        "params": encoder.num_parameters(),
        "features": encoder.num_features,
        "input_size": encoder.data_config.input_size[-1],
        "identity": encoder.identity,
    }
