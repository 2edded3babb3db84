"""Every candidate of an adaptation run for every seed, each recorded as its own
``adapt-member`` run (the parent run's children), in a fixed order: per seed, the backbone's
distances before adaptation, then each candidate trained (:mod:`~.members`) or, when an
earlier attempt of the run finished it, reloaded from disk. Returns what the choice and the
report need: the members' label-free scores, their target logits and report features."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit import progress
from transferkit.adaptation.base import DEEP_METHODS
from transferkit.adaptation.task import embed
from transferkit.config import AdaptConfig
from transferkit.runs._fitting import feature_cache
from transferkit.runs._recorded import RecordedRun
from transferkit.runs.adapt.members import (
    Outcome,
    candidate_name,
    candidates,
    fit_shallow,
    pad_space,
    raw_features,
    train_deep,
)
from transferkit.runs.adapt.summary import proxy_a
from transferkit.store import RunRecord, RunStore
from transferkit.training import seed_everything
from transferkit.zoo import create_backbone
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import TransferModel


def train_all(
    run_id: str,
    store: RunStore,
    data,
    cfg: AdaptConfig,
    plan: list,
    backbone0: Backbone,
    device,
    resumed: bool,
) -> tuple[list[dict], dict, dict]:
    """Every candidate for every seed: the members' rows, their kept target logits and
    report features, and the pretrained backbone's distances before adaptation."""
    previous = previous_members(store, run_id) if resumed else {}
    todo = candidates(cfg)
    _announce(run_id, data, cfg, len(todo), previous if resumed else None)
    members: list[dict[str, Any]] = []
    kept: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    before: dict[str, Any] = {}
    for seed, idx in plan:
        backbone = _seed_backbone(seed, backbone0, cfg, data, idx, device, before)
        feats = None
        for method, trade_off in todo:
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
            _, logits = embed(out.model, data.view, idx["target"], device, cfg.batch_size * 2)
            kept[(m.name, seed)] = {"logits": logits, "space": out.space}
            progress.info(
                f"  {m.name} seed {seed}: source val acc "
                f"{out.scores.get('source_val_accuracy', float('nan')):.4f}, "
                f"{cfg.select} risk {out.scores['risk']:.4f} ({mid})"
            )
    return members, kept, before


def _announce(
    run_id: str, data, cfg: AdaptConfig, n_candidates: int, previous: dict | None
) -> None:
    """What is about to train (and, resumed, how many members are done already)."""
    progress.info(
        f"adapt {run_id}: {n_candidates} candidates x {cfg.seeds} seeds, "
        f"{data.source.name} -> {data.target.name} with {cfg.model}"
        + (
            f"; resumed, {sum(r.status == 'done' for r in previous.values())} members already done"
            if previous is not None
            else ""
        )
    )


def _seed_backbone(
    seed: int, backbone0: Backbone, cfg: AdaptConfig, data, idx: dict, device, before: dict
) -> Backbone:
    """The backbone the candidates of ``seed`` start from (fresh weights per seed with
    ``--scratch``), and its proxy A-distance before adaptation, noted in ``before`` (with the
    first seed's features for the report). Seeded first, so each seed starts the same."""
    seed_everything(seed)
    backbone = (
        backbone0
        if seed == 0 or not cfg.scratch
        else create_backbone(cfg.model, pretrained=False, image_size=cfg.image_size)
    )
    fs0, ft0 = pad_space(TransferModel(backbone, data.source.num_classes), data, idx, device, cfg)
    before.setdefault("pad_initial", []).append(proxy_a(fs0, ft0, seed))
    if seed == 0:
        before["initial_space"] = (fs0, ft0)
    return backbone


@dataclass
class Member:
    """One candidate and seed of an adapt run, to train (or reuse from an earlier attempt)."""

    method: str
    trade_off: float | None
    seed: int
    backbone: Backbone
    idx: dict
    previous: RunRecord | None = None  # this member's run in an earlier attempt, if any

    @property
    def name(self) -> str:
        return candidate_name(self.method, self.trade_off)


def previous_members(store: RunStore, run_id: str) -> dict[tuple[str, int], RunRecord]:
    """The member runs an earlier attempt of ``run_id`` left, by (candidate, seed); newest."""
    out: dict[tuple[str, int], RunRecord] = {}
    for r in store.list(kind="adapt-member", limit=None):  # newest first
        if r.parent == run_id:
            key = (candidate_name(r.config["method"], r.config["trade_off"]), r.config["seed"])
            out.setdefault(key, r)
    return out


def _reuse(
    store: RunStore, rec: RunRecord, data, idx: dict, cfg: AdaptConfig, device
) -> tuple[Outcome, float]:
    """A finished deep member of an interrupted run, as if just trained (weights from disk)."""
    from transferkit.zoo.checkpoint import load_model

    model, _ = load_model(store.artifact_dir(rec.id) / "model")
    model = model.to(device)
    space = pad_space(model, data, idx, device, cfg)
    out = Outcome(
        model, dict(rec.metrics), rec.extra.get("history", []), rec.extra.get("info", {}), space
    )
    return out, float(rec.timings.get("total", 0.0))


def run_member(
    m: Member, parent: str, store: RunStore, data, cfg: AdaptConfig, device, feats: dict | None
) -> tuple[str, Outcome, float, dict | None]:
    """Train (or, when an earlier attempt finished it, reload) one member, as its own
    ``adapt-member`` run; returns (run id, outcome, seconds, shallow features for reuse)."""
    deep = m.method in DEEP_METHODS
    if deep and m.previous is not None and m.previous.status == "done":
        out, seconds = _reuse(store, m.previous, data, m.idx, cfg, device)
        return m.previous.id, out, seconds, feats
    t0 = time.perf_counter()
    member_cfg = {
        **dataclasses.asdict(cfg),
        "method": m.method,
        "trade_off": m.trade_off,
        "seed": m.seed,
    }
    with RecordedRun(
        store,
        "adapt-member",
        member_cfg,
        seed=m.seed,
        parent=parent,
        resume=m.previous.id if m.previous else None,
        data_fingerprint=f"{data.source.fingerprint}+{data.target.fingerprint}",
    ) as run:
        out, feats = _train(m, store, data, cfg, device, feats, run)
        out.scores["pad"] = proxy_a(*out.space, m.seed)
        run.save_model(out.model, data.source.classes, method=m.method, trade_off=m.trade_off)
        run.write_json("history.json", out.history)
        seconds = time.perf_counter() - t0
        run.finish(
            dict(out.scores),
            {"total": seconds},
            history=out.history,
            info=out.info,
            candidate=m.name,
        )
    return run.id, out, seconds, feats


def _train(
    m: Member, store: RunStore, data, cfg: AdaptConfig, device, feats: dict | None, run: RecordedRun
) -> tuple[Outcome, dict | None]:
    """A deep member trained on the shared loop (continuing its checkpoint when an earlier
    attempt left one), or a shallow one fitted on the pretrained backbone's features (computed
    once per seed, then passed on)."""
    k = data.source.num_classes
    if m.method in DEEP_METHODS:
        out = train_deep(
            m.backbone,
            k,
            data,
            m.idx,
            cfg,
            m.method,
            m.trade_off or 1.0,
            m.seed,
            device,
            run.dir,
            resume=m.previous is not None,
        )
        return out, feats
    feats = feats or raw_features(m.backbone, data, m.idx, cfg, device, feature_cache(store))
    return fit_shallow(m.backbone, k, data, m.idx, feats, cfg, m.method, m.seed), feats
