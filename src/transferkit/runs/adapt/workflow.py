"""``adapt``: every candidate (method x trade-off) for every seed, chosen without target
labels, recorded in the store (a parent run of kind ``adapt`` with one ``adapt-member`` run per
candidate and seed), the chosen model saved so ``transferkit predict --run ID`` serves it.

Order matters for the guarantee that target labels reach only the report: all candidates are
trained and scored, the label-free choice is made from those scores, and only then, with
``target_labels_for_eval``, are the target predictions compared with the target labels (for the
table, the per-class accuracy and the oracle choice shown beside the label-free one).
The methods are in :mod:`transferkit.adaptation`; checking and loading the domains in
:mod:`~transferkit.runs.adapt.domains`, one member in :mod:`~transferkit.runs.adapt.members`,
all of them as recorded runs in :mod:`~transferkit.runs.adapt.member_runs`, the summary in
:mod:`~transferkit.runs.adapt.summary`.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transferkit import distributed, progress
from transferkit.adaptation import DEEP_METHODS, SHALLOW_METHODS
from transferkit.adaptation.selection import choose, selection_scores
from transferkit.config import AdaptConfig
from transferkit.errors import UserError
from transferkit.runs._recorded import RecordedRun, unfinished
from transferkit.runs.adapt.domains import (
    AdaptData,
    check_batchnorm,
    check_config,
    load_domains,
    seed_indices,
)
from transferkit.runs.adapt.member_runs import train_all
from transferkit.runs.adapt.members import candidate_name, candidates
from transferkit.runs.adapt.summary import (
    embedding_plot_data,
    selection_table,
    summary,
    target_metrics,
)
from transferkit.store import RunStore
from transferkit.training import seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.base import Backbone


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
    rec = unfinished(store, resume, "adapt")
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
    backbone0 = _backbone(cfg, data)
    plan = [(s, seed_indices(data, cfg, s)) for s in range(cfg.seeds)]  # refuses before training
    with RecordedRun(
        store,
        "adapt",
        dataclasses.asdict(cfg),
        seed=0,
        resume=run_id,
        data_fingerprint=f"{data.source.fingerprint}+{data.target.fingerprint}",
    ) as run:
        run.note(**_notes(data, backbone0, device))
        members, kept, before = train_all(
            run.id, store, data, cfg, plan, backbone0, device, resumed=bool(resume)
        )
        table, chosen, rule, fallback = _choose(members, cfg)  # 1) from label-free scores alone
        oracle = _oracle(members, kept, data, plan, table)  # 2) only now: target labels
        metrics, extra = summary(table, chosen, oracle, before, cfg, rule, fallback)
        extra["embedding"] = embedding_plot_data(kept, before, chosen, cfg, data, plan[0][1])
        extra["pad"] = {
            "initial": metrics["pad_initial"],
            **{r["candidate"]: r.get("pad") for r in table},
        }
        _copy_chosen_model(run, store, members, chosen)
        run.finish(
            metrics, {"total": time.perf_counter() - t0}, **extra, members=members, table=table
        )
    return AdaptResult(run.id, chosen, oracle, rule, table, members, metrics, run.dir)


def _backbone(cfg: AdaptConfig, data: AdaptData) -> Backbone:
    """The backbone every seed starts from (seeded: fresh weights are the same each time),
    refused when it reads another modality than the domains or a method needs BatchNorm it
    lacks."""
    seed_everything(0)
    backbone = create_backbone(
        cfg.model, pretrained=not cfg.scratch, weights=cfg.weights, image_size=cfg.image_size
    )
    if backbone.data_config.modality != data.source.modality:
        raise UserError(
            f"{cfg.model} is a {backbone.data_config.modality} model but the "
            f"domains hold {data.source.modality} data; pick a matching model."
        )
    check_batchnorm(cfg.methods, backbone, cfg.model)
    return backbone


def _notes(data: AdaptData, backbone: Backbone, device) -> dict[str, Any]:
    """What the record says about the inputs: both domains, the backbone, the warnings."""
    return {
        "dataset": data.source.summary(),
        "target": data.target.summary(),
        "backbone": backbone.identity,
        "notes": data.notes,
        "missing_classes": data.missing,
        "device": str(device),
        "world_size": distributed.world_size(),
    }


def _choose(members: list[dict], cfg: AdaptConfig) -> tuple[list[dict], str, str, str | None]:
    """The label-free choice: one row per candidate (its scores' mean over seeds) with its
    selection score, the chosen candidate, the rule used and why it fell back, if it did."""
    table = selection_table(members, [candidate_name(m, t) for m, t in candidates(cfg)])
    scores, rule, fallback = selection_scores(cfg.select, table)
    for r in table:
        r["selection_score"] = scores[r["candidate"]]
    chosen = choose(scores)
    if fallback:
        progress.info(f"Selection: {fallback}.")
    return table, chosen, rule, fallback


def _oracle(
    members: list[dict], kept: dict, data: AdaptData, plan: list, table: list[dict]
) -> str | None:
    """After the choice, and only with ``target_labels_for_eval``: the target metrics of every
    member and candidate (written into ``members`` and ``table``), and the candidate target
    labels would have chosen."""
    if data.eval_labels is None:
        return None
    target_metrics(members, kept, data, dict(plan), table)
    scored = [r for r in table if r.get("target_accuracy") is not None]
    return max(scored, key=lambda r: r["target_accuracy"])["candidate"] if scored else None


def _copy_chosen_model(run: RecordedRun, store: RunStore, members: list[dict], chosen: str) -> None:
    """The chosen candidate's model (its first seed's) becomes the run's own, so ``predict
    --run`` serves it."""
    if run.main:
        chosen_run = next(m["run"] for m in members if m["candidate"] == chosen)
        shutil.copytree(
            store.artifact_dir(chosen_run) / "model", run.dir / "model", dirs_exist_ok=True
        )
