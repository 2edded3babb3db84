"""``adapt``: every candidate (method x trade-off) for every seed, chosen without target
labels, recorded in the store (a parent run of kind ``adapt`` with one ``adapt-member`` run per
candidate and seed), the chosen model saved so ``transferkit predict --run ID`` serves it.

Order matters for the guarantee that target labels reach only the report: all candidates are
trained and scored, the label-free choice is made from those scores, and only then, with
``target_labels_for_eval``, are the target predictions compared with the target labels (for the
table, the per-class accuracy and the oracle choice shown beside the label-free one).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit import distributed, progress
from transferkit.adaptation.base import METHODS
from transferkit.adaptation.inputs import (
    check_batchnorm,
    check_config,
    load_domains,
    seed_indices,
)
from transferkit.adaptation.members import (
    Outcome,
    candidate_name,
    fit_shallow,
    raw_features,
    train_deep,
)
from transferkit.adaptation.report_data import (
    embedding_plot_data,
    proxy_a,
    selection_table,
    target_metrics,
)
from transferkit.adaptation.selection import choose, selection_scores
from transferkit.adaptation.task import embed
from transferkit.config import AdaptConfig
from transferkit.errors import UserError
from transferkit.features.cache import FeatureCache
from transferkit.store import RunRecord, RunStore, recording
from transferkit.training import seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import TransferModel, atomic_write_json, load_model, save_model


@dataclass
class AdaptResult:
    """What :func:`adapt` returns. ``chosen``: the label-free choice; ``oracle``: the choice
    target labels would make (None without ``target_labels_for_eval``); ``table``: one row per
    candidate (mean over seeds); ``members``: one row per trained candidate and seed."""

    run_id: str
    chosen: str
    oracle: str | None
    rule: str
    table: list[dict[str, Any]]
    members: list[dict[str, Any]]
    metrics: dict[str, Any] = field(default_factory=dict)
    artifact_dir: Path | None = None

    @property
    def accuracy(self) -> float:
        """Mean target accuracy of the label-free choice (NaN without evaluation labels)."""
        return float(self.metrics.get("target_accuracy", float("nan")))


def make_adapt_config(config: AdaptConfig | None = None, **overrides: Any) -> AdaptConfig:
    cfg = dataclasses.replace(config) if config else AdaptConfig()
    names = {f.name for f in dataclasses.fields(AdaptConfig)}
    aliases = {"method": "methods", "trade_off": "trade_offs"}
    clean = {}
    for k, v in overrides.items():
        k = aliases.get(k, k)
        if k not in names:
            raise UserError(f"Unknown option {k!r} for adapt. Options: {', '.join(sorted(names))}.")
        if k in ("methods", "trade_offs") and isinstance(v, (str, int, float)):
            v = [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else [v]
        if k == "trade_offs":
            try:
                v = [float(x) for x in v]
            except (TypeError, ValueError):
                raise UserError(f"--trade-off takes comma-separated numbers such as 0.3,1; got "
                                f"{overrides.get('trade_offs', overrides.get('trade_off'))!r}."
                                ) from None
        clean[k] = list(v) if k == "methods" else v
    return dataclasses.replace(cfg, **clean)


def _candidates(cfg: AdaptConfig) -> list[tuple[str, float | None]]:
    out = []
    for m in cfg.methods:
        if METHODS.get(m).uses_trade_off:
            out += [(m, float(t)) for t in cfg.trade_offs]
        else:
            out.append((m, None))
    return out


def _config(store: RunStore, resume: str | None, config: AdaptConfig | None,
            overrides: dict[str, Any]) -> tuple[AdaptConfig, str | None]:
    """The run's config: from the arguments, or (``resume``) the stored one of that run."""
    if not resume:
        return make_adapt_config(config, **overrides), None
    if config is not None or overrides:
        raise UserError("A resumed adapt run keeps its stored options; pass only the run id "
                        f"(got {', '.join(sorted(overrides)) or 'a config'} as well).")
    rec = store.get(resume)
    if rec.kind != "adapt" or rec.status == "done":
        raise UserError(f"Run {rec.id} is a {rec.status} {rec.kind} run; only an unfinished "
                        "adapt run can be resumed here.")
    return AdaptConfig(**rec.config), rec.id


def _previous_members(store: RunStore, run_id: str) -> dict[tuple[str, int], RunRecord]:
    """The member runs an earlier attempt of ``run_id`` left, by (candidate, seed); newest."""
    out: dict[tuple[str, int], RunRecord] = {}
    for r in store.list(kind="adapt-member", limit=None):  # newest first
        if r.parent == run_id:
            key = (candidate_name(r.config["method"], r.config["trade_off"]), r.config["seed"])
            out.setdefault(key, r)
    return out


def _reuse(store: RunStore, rec: RunRecord, data, idx: dict, cfg: AdaptConfig,
           device) -> tuple[Outcome, float]:
    """A finished deep member of an interrupted run, as if just trained (weights from disk)."""
    model, _ = load_model(store.artifact_dir(rec.id) / "model")
    model = model.to(device)
    bs = cfg.batch_size * 2
    fs, _ = embed(model, data.source, idx["pad_source"], device, bs)
    ft, _ = embed(model, data.view, idx["pad_target"], device, bs)
    out = Outcome(model, dict(rec.metrics), rec.extra.get("history", []),
                  rec.extra.get("info", {}), (fs, ft))
    return out, float(rec.timings.get("total", 0.0))


def adapt(source: str | None = None, target: str | None = None, *,
          config: AdaptConfig | None = None, store: RunStore | None = None,
          resume: str | None = None, **overrides: Any) -> AdaptResult:
    """Adapt a model trained on labelled ``source`` to unlabelled ``target`` with every method
    in ``methods`` (and each ``trade_offs`` value), for ``seeds`` seeds; choose by the
    label-free ``select`` rule; record everything; return an :class:`AdaptResult`.

    Runs unchanged under ``torchrun``: each deep member trains with DDP (the paired samplers
    shard both domains), every process scores the same validation and selection sets, and only
    rank 0 writes. ``resume`` continues an interrupted run with its stored options: finished
    deep members are loaded, not retrained; the interrupted one continues from its checkpoint."""
    t0 = time.perf_counter()
    if source is not None:
        overrides["source"] = source
    if target is not None:
        overrides["target"] = target
    store = store or RunStore()
    cfg, run_id = _config(store, resume, config, overrides)
    check_config(cfg)
    device = distributed.device_for(cfg.device)
    distributed.init(device.type)
    device = distributed.device_for(cfg.device)
    main = distributed.is_main()
    world = distributed.world_size()
    if cfg.batch_size % world or cfg.batch_size // world < 2:
        raise UserError(f"--batch-size {cfg.batch_size} over {world} processes: each process "
                        "needs an equal share of at least 2 examples per domain (the transfer "
                        f"losses are batch statistics); use a multiple of {world}, at least "
                        f"{2 * world}.")
    data = load_domains(cfg)
    seed_everything(0)
    backbone0 = create_backbone(cfg.model, pretrained=not cfg.scratch, weights=cfg.weights,
                                image_size=cfg.image_size)
    if backbone0.data_config.modality != data.source.modality:
        raise UserError(f"{cfg.model} is a {backbone0.data_config.modality} model but the "
                        f"domains hold {data.source.modality} data; pick a matching model.")
    check_batchnorm(cfg.methods, backbone0, cfg.model)
    plan = [(s, seed_indices(data, cfg, s)) for s in range(cfg.seeds)]  # refuses before training
    candidates = _candidates(cfg)
    if main:
        if run_id is None:
            run_id = store.create("adapt", dataclasses.asdict(cfg), seed=0,
                                  data_fingerprint=f"{data.source.fingerprint}+"
                                                   f"{data.target.fingerprint}")
        else:
            store.claim(run_id)
        store.update(run_id, extra={"dataset": data.source.summary(),
                                    "target": data.target.summary(),
                                    "backbone": backbone0.identity, "notes": data.notes,
                                    "missing_classes": data.missing, "device": str(device),
                                    "world_size": distributed.world_size()})
    run_id = distributed.broadcast_object(run_id)
    previous = _previous_members(store, run_id) if resume else {}
    progress.info(f"adapt {run_id}: {len(candidates)} candidates x {cfg.seeds} seeds, "
                  f"{data.source.name} -> {data.target.name} with {cfg.model}"
                  + (f"; resumed, {sum(r.status == 'done' for r in previous.values())} members "
                     "already done" if resume else ""))
    cache = FeatureCache(store.root / "features")
    members: list[dict[str, Any]] = []
    kept: dict[tuple[str, int], dict[str, np.ndarray]] = {}  # target logits, pad features
    before: dict[str, Any] = {}
    with recording(store, run_id, main=main):
        for seed, idx in plan:
            seed_everything(seed)
            backbone = backbone0 if seed == 0 or not cfg.scratch else create_backbone(
                cfg.model, pretrained=False, image_size=cfg.image_size)
            init = TransferModel(backbone, data.source.num_classes)
            fs0, _ = embed(init, data.source, idx["pad_source"], device, cfg.batch_size * 2)
            ft0, _ = embed(init, data.view, idx["pad_target"], device, cfg.batch_size * 2)
            before.setdefault("pad_initial", []).append(proxy_a(fs0, ft0, seed))
            if seed == 0:
                before["initial_space"] = (fs0, ft0)
            feats = None
            for method, trade_off in candidates:
                name = candidate_name(method, trade_off)
                deep = METHODS.get(method).deep
                prev = previous.get((name, seed))
                if deep and prev is not None and prev.status == "done":
                    out, seconds = _reuse(store, prev, data, idx, cfg, device)
                    mid = prev.id
                else:
                    mid, t_member = prev.id if prev is not None else None, time.perf_counter()
                    if main:
                        if mid is None:
                            member_cfg = {**dataclasses.asdict(cfg), "method": method,
                                          "trade_off": trade_off, "seed": seed}
                            mid = store.create("adapt-member", member_cfg, seed=seed,
                                               parent=run_id,
                                               data_fingerprint=f"{data.source.fingerprint}+"
                                                                f"{data.target.fingerprint}")
                        else:
                            store.claim(mid)
                    mid = distributed.broadcast_object(mid)
                    mdir = store.artifact_dir(mid)
                    with recording(store, mid, main=main):
                        if deep:
                            out = train_deep(backbone, data.source.num_classes, data, idx, cfg,
                                             method, trade_off or 1.0, seed, device, mdir,
                                             resume=prev is not None)
                        else:
                            feats = feats or raw_features(backbone, data, idx, cfg, device,
                                                          cache)
                            out = fit_shallow(backbone, data.source.num_classes, data, idx,
                                              feats, cfg, method, seed)
                        out.scores["pad"] = proxy_a(*out.space, seed)
                        if main:
                            save_model(out.model, mdir / "model", data.source.classes,
                                       extra={"method": method, "trade_off": trade_off,
                                              "run": mid})
                            atomic_write_json(mdir / "history.json", out.history)
                    seconds = time.perf_counter() - t_member
                    if main:
                        store.update(mid, extra={"history": out.history, "info": out.info,
                                                 "candidate": name})
                        store.finish(mid, metrics=dict(out.scores), timings={"total": seconds})
                    distributed.barrier()
                members.append({"run": mid, "candidate": name, "method": method,
                                "trade_off": trade_off, "seed": seed, "seconds": seconds,
                                **out.scores})
                _, logits = embed(out.model, data.view, idx["target"], device, cfg.batch_size * 2)
                kept[(name, seed)] = {"logits": logits, "space": out.space}
                progress.info(f"  {name} seed {seed}: source val acc "
                              f"{out.scores.get('source_val_accuracy', float('nan')):.4f}, "
                              f"{cfg.select} risk {out.scores['risk']:.4f} ({mid})")
        # 1) the label-free choice, from the scores alone
        table = selection_table(members, [candidate_name(m, t) for m, t in candidates])
        scores, rule, fallback = selection_scores(cfg.select, table)
        for r in table:
            r["selection_score"] = scores[r["candidate"]]
        chosen = choose(scores)
        if fallback:
            progress.info(f"Selection: {fallback}.")
        # 2) only now: target labels, for the report
        oracle = None
        if data.eval_labels is not None:
            target_metrics(members, kept, data, dict(plan), table)
            scored = [r for r in table if r.get("target_accuracy") is not None]
            oracle = max(scored, key=lambda r: r["target_accuracy"])["candidate"] if scored else None
        result_metrics, extra = _summary(table, chosen, oracle, before, cfg, rule, fallback)
        extra["embedding"] = embedding_plot_data(kept, before, chosen, cfg, data, plan[0][1])
        extra["pad"] = {"initial": result_metrics["pad_initial"],
                        **{r["candidate"]: r.get("pad") for r in table}}
        chosen_run = next(m["run"] for m in members if m["candidate"] == chosen)
        if main:
            shutil.copytree(store.artifact_dir(chosen_run) / "model",
                            store.artifact_dir(run_id) / "model", dirs_exist_ok=True)
    if main:
        store.update(run_id, extra={**extra, "members": members, "table": table})
        store.finish(run_id, metrics=result_metrics, timings={"total": time.perf_counter() - t0})
    distributed.barrier()
    return AdaptResult(run_id, chosen, oracle, rule, table, members, result_metrics,
                       store.artifact_dir(run_id))


def _summary(table, chosen, oracle, before, cfg, rule, fallback) -> tuple[dict, dict]:
    row = {r["candidate"]: r for r in table}
    m: dict[str, Any] = {"chosen": chosen, "selection_rule": rule,
                         "selection_rule_asked": cfg.select,
                         "source_val_accuracy": row[chosen].get("source_val_accuracy"),
                         "risk": row[chosen]["selection_score"],
                         "pad_initial": float(np.mean(before["pad_initial"])),
                         "pad_chosen": row[chosen].get("pad")}
    if oracle is not None:
        m.update(oracle=oracle, target_accuracy=row[chosen]["target_accuracy"],
                 oracle_target_accuracy=row[oracle]["target_accuracy"])
        m["selection_gap"] = m["oracle_target_accuracy"] - m["target_accuracy"]
        for base in ("source-only", "shallow-source-only"):
            if base in row and row[base].get("target_accuracy") is not None:
                m[f"{base}_target_accuracy"] = row[base]["target_accuracy"]
    extra = {"selection": {"rule": rule, "asked": cfg.select, "fallback": fallback,
                           "chosen": chosen, "oracle": oracle,
                           "by": "lowest mean label-free risk over seeds"}}
    return m, extra
