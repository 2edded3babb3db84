"""``pretrain``: make one's own source model on the shared training loop, record it in the
store, and save it so the zoo serves it as ``run:ID`` (or by its ``--name``). The methods are
in :mod:`transferkit.pretraining`."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transferkit import distributed, progress
from transferkit.config import PretrainConfig, check_ranges
from transferkit.config.options import resolved_values
from transferkit.errors import UserError
from transferkit.pretraining.base import METHODS
from transferkit.runs._recorded import RecordedRun, unfinished
from transferkit.store import RunStore
from transferkit.training import LoopSettings, run, seed_everything
from transferkit.zoo.base import Backbone


@dataclass
class PretrainResult:
    run_id: str
    name: str
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    artifact_dir: Path


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
    task_cls = METHODS.get(cfg.method)
    check_ranges(cfg)
    cfg = dataclasses.replace(cfg, options=resolved_values(METHODS, [cfg.method], cfg.options))
    task_cls.check(cfg)
    if cfg.name and (":" in cfg.name or cfg.name.lower() != cfg.name):
        raise UserError(f"--name {cfg.name!r}: use lowercase letters, digits and dashes, no ':'.")
    return cfg


def pretrain(
    data: str | None = None,
    *,
    config: PretrainConfig | None = None,
    resume: str | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> PretrainResult:
    """Pretrain ``arch`` on ``data`` with ``method``; returns the recorded, saved source model.

    The method decides how its data is read, split and which backbone it trains (the
    classmethods of :class:`~transferkit.pretraining.base.PretrainTask`); this workflow
    records the run, trains on the shared loop (resumable), and saves the result."""
    store = store or RunStore()
    if resume:
        cfg = PretrainConfig.from_dict(unfinished(store, resume, "pretrain").config)
    else:
        cfg = _new_config(data, config, overrides)
    task_cls = METHODS.get(cfg.method)
    device = distributed.setup(cfg.device)
    t0 = time.perf_counter()
    dataset = task_cls.load_data(cfg)
    seed_everything(cfg.seed)
    backbone = task_cls.make_backbone(cfg, dataset)
    train, val, left_out = task_cls.split(dataset, cfg)
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
        _announce(
            rec.id, cfg, task_cls.trained_model(cfg), dataset, (len(train), len(val)), left_out
        )
        result = run(task, _loop_settings(cfg, task, rec.dir), device, resume=bool(resume))
        encoder = task.save_source_model(rec)
        task.save_artifacts(rec)
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
            **task.record_extras(),
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
    run_id: str, cfg: PretrainConfig, model: str, dataset: Any, sizes: tuple, left_out: int
) -> None:
    progress.info(
        f"run {run_id}: {cfg.method} pretraining of {model} on {dataset.name} "
        f"({sizes[0]} train / {sizes[1]} val"
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


def _backbone_info(encoder: Backbone) -> dict[str, Any]:
    """What the zoo listing shows about the source model without loading it."""
    return {
        "modality": encoder.data_config.modality,
        "params": encoder.num_parameters(),
        "features": encoder.num_features,
        "input_size": encoder.data_config.input_size[-1],
        "identity": encoder.identity,
    }
