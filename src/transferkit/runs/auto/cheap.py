"""Stage 2 of the search: the strategies that need no fine-tuning (the linear probe; zero-shot
and prototypes on models that embed label descriptions) on every kept model, then the probe of
the best model at its other input sizes. Each is a transfer run (see
:mod:`transferkit.search.cheap`); the first always runs, the others only while the budget left
is more than the end's reserve and :data:`CHEAP_SHARE`."""

from __future__ import annotations

from typing import Any

from transferkit.runs._fitting import feature_cache
from transferkit.runs.auto.search import Search
from transferkit.search.cheap import probe_cv, run_cheap, tiny_validation
from transferkit.search.ranking import Ranked
from transferkit.search.space import ModelInfo, cheap_strategies, usable

CHEAP_SHARE = 0.05  # a cheap run starts only with this share (and the reserve) left


def cheap_stage(search: Search, ranked: Ranked, strategies: list[str]) -> list[dict[str, Any]]:
    """The leaderboard rows of the cheap strategies among ``strategies`` (or those an earlier
    try of the search saved)."""
    if "cheap" in search.done:
        return search.done["cheap"]
    rows: list[dict[str, Any]] = []
    cheap = cheap_strategies()
    wanted = [s for s in strategies if s in cheap]
    with search.clock.stage("cheap"):
        for info in ranked.kept:
            size = search.sizes(info.native_size)[0] if info.modality == "image" else None
            for s in wanted:
                if usable(s, info):
                    # the first one always runs: a search that ran out of time still
                    # returns the cheapest result rather than none
                    first = not any(r.get("state") == "complete" for r in rows)
                    rows.append(_cheap_row(search, info, s, size, force=first))
        rows += _other_sizes(search, ranked, rows)
    search.save(cheap=rows)
    return rows


def _other_sizes(search: Search, ranked: Ranked, rows: list[dict[str, Any]]) -> list[dict]:
    """The linear probe of the best model (by its selection score) at its other input sizes."""
    best = max(
        (r for r in rows if r.get("strategy") == "linear" and r.get("val") is not None),
        key=lambda r: r.get("cv", r["val"]),
        default=None,
    )
    if best is None:
        return []
    info = next(k for k in ranked.kept if k.name == best["model"])
    sizes = search.sizes(info.native_size)[1:] if info.modality == "image" else []
    return [_cheap_row(search, info, "linear", size) for size in sizes]


def _cheap_row(
    search: Search, info: ModelInfo, strategy: str, size: int | None, force: bool = False
) -> dict[str, Any]:
    """One cheap strategy on one model, unless the budget left is kept for later (``force``:
    run it anyway); on a tiny validation split the probe is cross-validated too."""
    clock = search.clock
    if not force and clock.left() < search.reserve() + CHEAP_SHARE * clock.budget_s:
        return {
            "kind": "cheap",
            "model": info.name,
            "strategy": strategy,
            "image_size": size,
            "state": "skipped",
            "reason": "not run: the budget left is kept for the trials and the end",
        }
    row = run_cheap(info, strategy, size, search.fit_once, search.cfg.metric)
    if (
        strategy == "linear"
        and row["state"] == "complete"
        and tiny_validation(search.splits, search.dataset.num_classes)
    ):
        row.update(_probe_cv(search, info.name, size))
    return row


def _probe_cv(search: Search, name: str, size: int | None) -> dict[str, float]:
    from transferkit.zoo import create_backbone

    backbone = create_backbone(name, image_size=size)
    return probe_cv(
        backbone,
        search.dataset,
        search.pool,
        feature_cache(search.store),
        search.device,
        search.cfg.seed,
    )
