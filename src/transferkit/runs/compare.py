"""``compare``: strategies x labels per class x seeds on exactly the same splits.

For each seed and label budget one split is drawn and every strategy trains and is tested on
it, so differences between strategies are paired. The comparison is one record with its
member fit runs; a cell whose fit already exists in the store (same config, same data
fingerprint, finished) is reused rather than retrained, so a killed comparison run again
continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from transferkit import progress
from transferkit.config import FitConfig
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits
from transferkit.errors import UserError
from transferkit.evaluation.compare import METRIC, budget_name, parse_budgets, summarise
from transferkit.runs._fitting import fit_splits, load_fit_data, make_config, member_config
from transferkit.runs._recorded import RecordedRun
from transferkit.runs.fit import fit
from transferkit.store import RunStore


@dataclass
class CompareResult:
    """The comparison record id, its member runs and the summary table."""

    compare_id: str
    members: list[dict[str, Any]]
    table: list[dict[str, Any]]
    paired: list[dict[str, Any]]
    verdicts: list[str]
    reused: int = 0


def _find_reusable(store: RunStore, cfg: FitConfig, fingerprint: str):
    rec = store.find("fit", cfg.to_dict())
    if (
        rec is not None
        and rec.data_fingerprint == fingerprint
        and METRIC in rec.metrics
        and rec.extra.get("fold") is None
    ):
        return rec
    return None


def _check(strategies: list[str], seeds: int | list[int]) -> list[int]:
    if not strategies:
        raise UserError("Give at least one strategy, e.g. --strategies linear,finetune,scratch.")
    if len(set(strategies)) != len(strategies):
        raise UserError(f"Strategies are listed twice: {', '.join(strategies)}.")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise UserError("--seeds must be at least 1.")
    return seed_list


def compare(
    data: str | None = None,
    *,
    strategies: list[str],
    labels_per_class: list[int | str | None],
    seeds: int | list[int] = 3,
    config: FitConfig | None = None,
    store: RunStore | None = None,
    reuse: bool = True,
    **overrides: Any,
) -> CompareResult:
    """Train every strategy on the same splits per (seed, budget); returns the summary."""
    store = store or RunStore()
    seed_list = _check(strategies, seeds)
    base = make_config(data, config=config, strategies=strategies, **overrides)
    budgets = parse_budgets(labels_per_class)
    dataset = load_fit_data(base)
    plan = _plan(dataset, base, seed_list, budgets)
    config_record = {
        "data": base.data.data,
        "model": base.model,
        "strategies": strategies,
        "labels_per_class": [budget_name(b) for b in budgets],
        "seeds": seed_list,
        "base": base.to_dict(),
    }
    members, reused, t0 = [], 0, time.perf_counter()
    with RecordedRun(
        store, "compare", config_record, seed=seed_list[0], data_fingerprint=dataset.fingerprint
    ) as run:
        for seed, b, splits in plan:
            for s in strategies:
                cfg = member_config(base, s, seed=seed, labels_per_class=b)
                row, was_reused = _cell(run, store, cfg, dataset, splits, reuse)
                members.append(row)
                reused += int(was_reused)
                run.note(members=members)
        table, paired, verdicts = summarise(members, strategies, budgets)
        run.finish(
            {},
            {"total": time.perf_counter() - t0},
            members=members,
            table=table,
            paired=paired,
            verdicts=verdicts,
            reused=reused,
            dataset=dataset.summary(),
        )
    return CompareResult(run.id, members, table, paired, verdicts, reused)


def _plan(
    dataset: Dataset, base: FitConfig, seeds: list[int], budgets: list[int | None]
) -> list[tuple[int, int | None, Splits]]:
    """One split per (seed, budget), drawn before anything trains (so a budget larger than the
    data is refused first); every strategy of that cell trains and is tested on it."""
    return [(seed, b, fit_splits(dataset, base.data, seed, b)) for seed in seeds for b in budgets]


def _cell(
    run: RecordedRun,
    store: RunStore,
    cfg: FitConfig,
    dataset: Dataset,
    splits: Splits,
    reuse: bool,
) -> tuple[dict[str, Any], bool]:
    """One strategy on one cell's split: its finished fit reused when the store has it, else
    trained as a member of ``run``; returns the member row and whether it was reused."""
    rec = _find_reusable(store, cfg, dataset.fingerprint) if reuse else None
    if rec is None:
        r = fit(
            config=cfg,
            dataset=dataset,
            splits=splits,
            store=store,
            parent=run.id,
            record={"compare": run.id},
        )
        run_id, acc = r.run_id, r.metrics[METRIC]
    else:
        run_id, acc = rec.id, rec.metrics[METRIC]
    budget = budget_name(cfg.data.labels_per_class)
    progress.info(
        f"compare {run.id}: {cfg.strategy} @ {budget} seed {cfg.seed}: "
        f"{acc:.4f} ({'reused ' if rec else ''}{run_id})"
    )
    row = {
        "run": run_id,
        "strategy": cfg.strategy,
        "labels_per_class": budget,
        "seed": cfg.seed,
        METRIC: acc,
    }
    return row, rec is not None
