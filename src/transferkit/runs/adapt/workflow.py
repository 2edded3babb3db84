"""``adapt``: every candidate (method x trade-off) for every seed, chosen without target
labels, recorded in the store (a parent run of kind ``adapt`` with one ``adapt-member`` run per
candidate and seed), the chosen model saved so ``transferkit predict --run ID`` serves it.

Order matters for the guarantee that target labels reach only the report: all candidates are
trained and scored, the label-free choice is made from those scores, and only then, with
``target_labels_for_eval``, are the target predictions compared with the target labels (for the
table, the per-class accuracy and the oracle choice shown beside the label-free one).
The methods are in :mod:`transferkit.adaptation`; checking and loading the domains in
:mod:`~transferkit.runs.adapt.domains`, one member in :mod:`~transferkit.runs.adapt.members`,
the summary in :mod:`~transferkit.runs.adapt.summary`.
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
from transferkit.adaptation import DEEP_METHODS, SHALLOW_METHODS, method_class
from transferkit.adaptation.selection import choose, selection_scores
from transferkit.adaptation.task import embed
from transferkit.config import AdaptConfig
from transferkit.errors import UserError
from transferkit.runs._recorded import RecordedRun
from transferkit.runs.adapt.domains import check_batchnorm, check_config, load_domains, seed_indices
from transferkit.runs.adapt.members import Member, candidate_name, previous_members, run_member
from transferkit.runs.adapt.summary import (
    embedding_plot_data,
    proxy_a,
    selection_table,
    summary,
    target_metrics,
)
from transferkit.store import RunStore
from transferkit.training import seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import TransferModel


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


def _listed(k: str, v: Any, given: Any) -> list:
    if isinstance(v, (str, int, float)):
        v = [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else [v]
    if k != "trade_offs":
        return list(v)
    try:
        return [float(x) for x in v]
    except (TypeError, ValueError):
        raise UserError(
            f"--trade-off takes comma-separated numbers such as 0.3,1; got {given!r}."
        ) from None


def make_adapt_config(config: AdaptConfig | None = None, **overrides: Any) -> AdaptConfig:
    """AdaptConfig from keyword overrides (``method`` / ``trade_off`` also singular, as a list
    or a comma string; the methods' own options such as ``hidden`` flat)."""
    cfg = dataclasses.replace(config) if config else AdaptConfig()
    names = {f.name for f in dataclasses.fields(AdaptConfig)} - {"options"}
    option_names = {d for r in (DEEP_METHODS, SHALLOW_METHODS) for d, _, _ in r.option_fields()}
    aliases = {"method": "methods", "trade_off": "trade_offs"}
    clean, options = {}, dict(cfg.options)
    for k, v in overrides.items():
        k = aliases.get(k, k)
        if k in option_names:
            options[k] = v
        elif k not in names:
            raise UserError(
                f"Unknown option {k!r} for adapt. Options: "
                f"{', '.join(sorted(names | option_names))}."
            )
        else:
            clean[k] = _listed(k, v, v) if k in ("methods", "trade_offs") else v
    return dataclasses.replace(cfg, **clean, options=options)


def _candidates(cfg: AdaptConfig) -> list[tuple[str, float | None]]:
    out = []
    for m in cfg.methods:
        if method_class(m).uses_trade_off:
            out += [(m, float(t)) for t in cfg.trade_offs]
        else:
            out.append((m, None))
    return out


def _config(
    store: RunStore, resume: str | None, config: AdaptConfig | None, overrides: dict[str, Any]
) -> tuple[AdaptConfig, str | None]:
    """The run's config: from the arguments, or (``resume``) the stored one of that run."""
    if not resume:
        return make_adapt_config(config, **overrides), None
    if config is not None or overrides:
        raise UserError(
            "A resumed adapt run keeps its stored options; pass only the run id "
            f"(got {', '.join(sorted(overrides)) or 'a config'} as well)."
        )
    rec = store.get(resume)
    if rec.kind != "adapt" or rec.status == "done":
        raise UserError(
            f"Run {rec.id} is a {rec.status} {rec.kind} run; only an unfinished "
            "adapt run can be resumed here."
        )
    return AdaptConfig.from_dict(rec.config), rec.id


def _check_processes(cfg: AdaptConfig) -> None:
    world = distributed.world_size()
    if cfg.batch_size % world or cfg.batch_size // world < 2:
        raise UserError(
            f"--batch-size {cfg.batch_size} over {world} processes: each process "
            "needs an equal share of at least 2 examples per domain (the transfer "
            f"losses are batch statistics); use a multiple of {world}, at least "
            f"{2 * world}."
        )


def adapt(
    source: str | None = None,
    target: str | None = None,
    *,
    config: AdaptConfig | None = None,
    store: RunStore | None = None,
    resume: str | None = None,
    **overrides: Any,
) -> AdaptResult:
    """Adapt a model trained on labelled ``source`` to unlabelled ``target`` with every method
    in ``methods`` (and each ``trade_offs`` value), for ``seeds`` seeds; choose by the
    label-free ``select`` rule; record everything; return an :class:`AdaptResult`.

    Runs unchanged under ``torchrun``: each deep member trains with DDP, every process scores
    the same validation and selection sets, and only rank 0 writes. ``resume`` continues an
    interrupted run with its stored options: finished deep members are loaded, not retrained;
    the interrupted one continues from its checkpoint."""
    t0 = time.perf_counter()
    overrides.update({k: v for k, v in (("source", source), ("target", target)) if v})
    store = store or RunStore()
    cfg, run_id = _config(store, resume, config, overrides)
    check_config(cfg)
    device = distributed.setup(cfg.device)
    _check_processes(cfg)
    data = load_domains(cfg)
    seed_everything(0)
    backbone0 = create_backbone(
        cfg.model, pretrained=not cfg.scratch, weights=cfg.weights, image_size=cfg.image_size
    )
    if backbone0.data_config.modality != data.source.modality:
        raise UserError(
            f"{cfg.model} is a {backbone0.data_config.modality} model but the "
            f"domains hold {data.source.modality} data; pick a matching model."
        )
    check_batchnorm(cfg.methods, backbone0, cfg.model)
    plan = [(s, seed_indices(data, cfg, s)) for s in range(cfg.seeds)]  # refuses before training
    with RecordedRun(
        store,
        "adapt",
        dataclasses.asdict(cfg),
        seed=0,
        resume=run_id,
        data_fingerprint=f"{data.source.fingerprint}+{data.target.fingerprint}",
    ) as run:
        run.note(
            dataset=data.source.summary(),
            target=data.target.summary(),
            backbone=backbone0.identity,
            notes=data.notes,
            missing_classes=data.missing,
            device=str(device),
            world_size=distributed.world_size(),
        )
        members, kept, before = _train_all(
            run.id, store, data, cfg, plan, backbone0, device, resumed=bool(resume)
        )
        table = selection_table(members, [candidate_name(m, t) for m, t in _candidates(cfg)])
        scores, rule, fallback = selection_scores(cfg.select, table)
        for r in table:
            r["selection_score"] = scores[r["candidate"]]
        chosen = choose(scores)  # 1) the label-free choice, from the scores alone
        if fallback:
            progress.info(f"Selection: {fallback}.")
        oracle = None  # 2) only now: target labels, for the report
        if data.eval_labels is not None:
            target_metrics(members, kept, data, dict(plan), table)
            scored = [r for r in table if r.get("target_accuracy") is not None]
            oracle = (
                max(scored, key=lambda r: r["target_accuracy"])["candidate"] if scored else None
            )
        metrics, extra = summary(table, chosen, oracle, before, cfg, rule, fallback)
        extra["embedding"] = embedding_plot_data(kept, before, chosen, cfg, data, plan[0][1])
        extra["pad"] = {
            "initial": metrics["pad_initial"],
            **{r["candidate"]: r.get("pad") for r in table},
        }
        if run.main:
            chosen_run = next(m["run"] for m in members if m["candidate"] == chosen)
            shutil.copytree(
                store.artifact_dir(chosen_run) / "model", run.dir / "model", dirs_exist_ok=True
            )
        run.finish(
            metrics, {"total": time.perf_counter() - t0}, **extra, members=members, table=table
        )
    return AdaptResult(run.id, chosen, oracle, rule, table, members, metrics, run.dir)


def _train_all(
    run_id: str,
    store: RunStore,
    data,
    cfg: AdaptConfig,
    plan: list,
    backbone0,
    device,
    resumed: bool,
) -> tuple[list[dict], dict, dict]:
    """Every candidate for every seed: the members' rows, their kept target logits and
    report features, and the pretrained backbone's distances before adaptation."""
    previous = previous_members(store, run_id) if resumed else {}
    candidates = _candidates(cfg)
    progress.info(
        f"adapt {run_id}: {len(candidates)} candidates x {cfg.seeds} seeds, "
        f"{data.source.name} -> {data.target.name} with {cfg.model}"
        + (
            f"; resumed, {sum(r.status == 'done' for r in previous.values())} members already done"
            if resumed
            else ""
        )
    )
    members: list[dict[str, Any]] = []
    kept: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    before: dict[str, Any] = {}
    bs = cfg.batch_size * 2
    for seed, idx in plan:
        seed_everything(seed)
        backbone = (
            backbone0
            if seed == 0 or not cfg.scratch
            else create_backbone(cfg.model, pretrained=False, image_size=cfg.image_size)
        )
        init = TransferModel(backbone, data.source.num_classes)
        fs0, _ = embed(init, data.source, idx["pad_source"], device, bs)
        ft0, _ = embed(init, data.view, idx["pad_target"], device, bs)
        before.setdefault("pad_initial", []).append(proxy_a(fs0, ft0, seed))
        if seed == 0:
            before["initial_space"] = (fs0, ft0)
        feats = None
        for method, trade_off in candidates:
            m = Member(method, trade_off, seed, backbone, idx)
            m.previous = previous.get((m.name, seed))
            mid, out, seconds, feats = run_member(m, run_id, store, data, cfg, device, feats)
            members.append(
                {
                    "run": mid,
                    "candidate": m.name,
                    "method": method,
                    "trade_off": trade_off,
                    "seed": seed,
                    "seconds": seconds,
                    **out.scores,
                }
            )
            _, logits = embed(out.model, data.view, idx["target"], device, bs)
            kept[(m.name, seed)] = {"logits": logits, "space": out.space}
            progress.info(
                f"  {m.name} seed {seed}: source val acc "
                f"{out.scores.get('source_val_accuracy', float('nan')):.4f}, "
                f"{cfg.select} risk {out.scores['risk']:.4f} ({mid})"
            )
    return members, kept, before
