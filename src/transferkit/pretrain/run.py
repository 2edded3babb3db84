"""``pretrain``: make one's own source model on the shared training loop, record it in the
store, and save it so the zoo serves it as ``run:ID`` (or by its ``--name``)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transferkit import distributed, progress
from transferkit.config import check_ranges
from transferkit.data import load_dataset
from transferkit.errors import UserError
from transferkit.pretrain.base import METHODS, PretrainConfig
from transferkit.store import RunStore, recording
from transferkit.training import LoopSettings, run, seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import TransferModel, atomic_write_json, save_model


@dataclass
class PretrainResult:
    run_id: str
    name: str
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    artifact_dir: Path


def _split(dataset, val_fraction: float, seed: int, max_examples: int | None):
    """Train / validation indices for pretraining. A dataset with an official test split keeps
    it out (only its training part is pretrained on), so that a later ``fit`` on the same data
    is tested on examples the source model never saw."""
    rng = np.random.default_rng(seed)
    pool = np.arange(len(dataset))
    predefined = getattr(dataset, "predefined", None)
    if predefined is not None:
        pool = pool[np.asarray(predefined) != "test"]
    order = pool[rng.permutation(len(pool))]
    if max_examples:
        order = order[:max_examples]
    n_val = max(1, int(round(len(order) * val_fraction))) if len(order) > 10 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val]), len(dataset) - len(pool)


def _check(cfg: PretrainConfig) -> None:
    METHODS.get(cfg.method)
    check_ranges(cfg)
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise UserError("--epochs and --batch-size must be at least 1.")
    if not 0 <= cfg.val_fraction < 1:
        raise UserError("--val-fraction must lie in [0, 1).")
    if cfg.method in ("autoencoder", "vae") and cfg.latent_dim < 1:
        raise UserError(f"--latent-dim must be at least 1, not {cfg.latent_dim}.")
    if cfg.method == "contrastive" and cfg.batch_size < 2:
        raise UserError("Contrastive pretraining needs a batch size of at least 2 (each image is "
                        "contrasted with the others in its batch); use 64 or more.")
    if cfg.name and (":" in cfg.name or cfg.name.lower() != cfg.name):
        raise UserError(f"--name {cfg.name!r}: use lowercase letters, digits and dashes, no ':'.")


def pretrain(data: str | None = None, *, config: PretrainConfig | None = None,
             resume: str | None = None, store: RunStore | None = None,
             **overrides: Any) -> PretrainResult:
    """Pretrain ``arch`` on ``data`` with ``method``; returns the recorded, saved source model."""
    store = store or RunStore()
    run_id = None
    if resume:
        rec = store.get(resume)
        if rec.kind != "pretrain" or rec.status == "done":
            raise UserError(f"Run {rec.id} is a {rec.status} {rec.kind} run; only an unfinished "
                            "pretrain run can be resumed here.")
        cfg = PretrainConfig(**rec.config)
        run_id = rec.id
    else:
        cfg = dataclasses.replace(config or PretrainConfig(), **overrides)
        if data is not None:
            cfg = dataclasses.replace(cfg, data=data)
    _check(cfg)
    if cfg.name and not resume:
        from transferkit.zoo import BACKBONES

        if cfg.name in BACKBONES:
            raise UserError(f"--name {cfg.name} is a zoo model already; pick another name.")
    task_cls = METHODS.get(cfg.method)
    device = distributed.device_for(cfg.device)
    distributed.init(device.type)
    device = distributed.device_for(cfg.device)
    t0 = time.perf_counter()
    if not cfg.data:
        raise UserError("No source data given; pass --data.")
    dataset = load_dataset(cfg.data, strict=cfg.strict, validate=task_cls.needs_labels)
    if dataset.modality != "image":
        raise UserError(f"pretrain works on images; {dataset.name} holds {dataset.modality} "
                        "data. For text, start from a pretrained encoder (minilm-l6, hf:PATH) "
                        "and use `transferkit fit` (finetune, lora or contrastive).")
    if task_cls.needs_labels and (dataset.labels is None or dataset.num_classes < 2):
        raise UserError(f"{cfg.method} pretraining needs labels, and {dataset.name} has "
                        f"{'none' if dataset.labels is None else 'a single class'}. Use a "
                        "folder with one sub-folder per class, or an unsupervised method "
                        "(--method autoencoder, vae or contrastive).")
    seed_everything(cfg.seed)
    backbone = create_backbone(cfg.arch, pretrained=cfg.from_pretrained, weights=cfg.weights,
                               image_size=cfg.image_size)
    train, val, test_left_out = _split(dataset, cfg.val_fraction, cfg.seed, cfg.max_examples)
    if len(train) < 2:
        raise UserError(f"{dataset.name} has too few usable examples ({len(dataset)}) to pretrain.")
    if distributed.is_main():
        if run_id is None:
            run_id = store.create("pretrain", dataclasses.asdict(cfg), seed=cfg.seed,
                                  data_fingerprint=dataset.fingerprint, name=cfg.name)
        else:
            store.claim(run_id)
    run_id = distributed.broadcast_object(run_id)
    run_dir = store.artifact_dir(run_id)
    task = task_cls(backbone, dataset, train, val, cfg, device)
    settings = LoopSettings(epochs=cfg.epochs, amp=cfg.amp, patience=cfg.patience,
                            monitor=task.monitor, tie_break=None, seed=cfg.seed,
                            checkpoint_dir=run_dir / "checkpoints",
                            description=f"pretrain {cfg.method}")
    progress.info(f"run {run_id}: {cfg.method} pretraining of {cfg.arch} on {dataset.name} "
                  f"({len(train)} train / {len(val)} val"
                  + (f"; its official test split of {test_left_out} is left out"
                     if test_left_out else "")
                  + ")")
    with recording(store, run_id, main=distributed.is_main()):
        result = run(task, settings, device, resume=bool(resume))
    encoder = task.transferred()
    head, classes = task.source_head()
    model = TransferModel(encoder, head.out_features if head is not None else 0)
    if head is not None:
        model.head.load_state_dict(head.state_dict())
    metrics = {k: v for k, v in result.best.items() if k.startswith("val_")}
    if distributed.is_main():
        save_model(model, run_dir / "model", classes or [],
                   extra={"method": cfg.method, "run": run_id, "source_data": dataset.fingerprint})
        atomic_write_json(run_dir / "history.json", result.history)
        store.update(run_id, extra={
            "history": result.history, "dataset": dataset.summary(),
            "splits": {"train": len(train), "val": len(val),
                       "official_test_left_out": int(test_left_out)},
            "backbone_info": {"modality": encoder.data_config.modality,
                              "params": encoder.num_parameters(), "features": encoder.num_features,
                              "input_size": encoder.data_config.input_size[-1],
                              "identity": encoder.identity},
            "best_epoch": result.best_epoch,
        })
        store.finish(run_id, metrics=metrics, timings={"total": time.perf_counter() - t0,
                                                       "train": result.seconds})
    distributed.barrier()
    return PretrainResult(run_id, cfg.name or f"run:{run_id}", metrics, result.history, run_dir)
