"""Stage 1 of the search: pre-flight and rank the candidates on a stratified sample of the
labelled pool (the rules are :mod:`transferkit.search.ranking`), within a share of the budget;
then refuse a budget too small for even one linear probe of the kept models."""

from __future__ import annotations

import dataclasses
from typing import Any

from transferkit import progress
from transferkit.errors import UserError
from transferkit.runs._fitting import feature_cache
from transferkit.runs.auto.search import Search
from transferkit.search import ranking
from transferkit.search.space import ModelInfo
from transferkit.transferability.candidates import Extraction
from transferkit.transferability.sampling import stratified_subsample

RANK_SHARE = 0.15  # of the budget, at most, for pre-flight and ranking (one model at least)


def rank(search: Search, names: list[str]) -> ranking.Ranked:
    """The candidates ``names`` ranked and the best kept (or the ranking of an earlier try)."""
    if "ranking" in search.done:
        return _ranked_again(search.done["ranking"])
    cfg = search.cfg
    n = min(cfg.rank_examples, len(search.pool))
    sample = stratified_subsample(search.dataset.labels, search.pool, n, cfg.seed)
    how = Extraction(
        feature_cache(search.store),
        search.sizes(None)[0] if search.dataset.modality == "image" else None,
        str(search.device),
        cfg.batch_size * 2,
    )
    share = RANK_SHARE * search.clock.budget_s
    with search.clock.stage("rank"):
        ranked = ranking.rank_stage(
            names,
            search.dataset,
            search.splits.train,
            sample,
            how,
            keep=cfg.keep,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            device=search.device,
            time_left=lambda: share - search.clock.elapsed(),
        )
    search.save(
        ranking={
            "rows": ranked.rows,
            "kept": [dataclasses.asdict(k) for k in ranked.kept],
            "seconds_per_batch": ranked.seconds_per_batch,
        }
    )
    progress.info("auto: kept " + ", ".join(k.name for k in ranked.kept))
    return ranked


def check_budget(search: Search, ranked: ranking.Ranked) -> None:
    """Refuse a budget that cannot fit even one linear probe (saying the minimum)."""
    clock = search.clock
    per_batch = min(ranked.seconds_per_batch.get(k.name, 1.0) for k in ranked.kept) / 2
    n = len(search.pool) + len(search.splits.test)
    need = clock.elapsed() + 1.5 * per_batch * n / max(1, search.cfg.batch_size) + 5
    if need > clock.budget_s:
        raise UserError(
            f"The budget {search.cfg.budget} is too small: ranking took "
            f"{clock.elapsed():.0f} s and one linear probe on these "
            f"{n} examples needs about {need - clock.elapsed():.0f} s "
            f"more; give --budget {int(need * 1.5) + 1}s or more."
        )


def _ranked_again(saved: dict[str, Any]) -> ranking.Ranked:
    """The ranking stage's outcome as an earlier try saved it in the record."""
    return ranking.Ranked(
        saved["rows"], [ModelInfo(**k) for k in saved["kept"]], saved.get("seconds_per_batch", {})
    )
