"""Paired comparisons: strategies x labels per class x seeds on exactly the same splits.

For each seed and label budget, one split is drawn and every strategy trains and is tested
on it, so differences between strategies are paired. The comparison is recorded in the store
with its member runs; a cell whose fit already exists in the store (same config, same data
fingerprint, finished) is reused rather than retrained.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from transferkit import distributed, progress
from transferkit.config import FitConfig
from transferkit.data import load_dataset
from transferkit.data.splits import make_splits
from transferkit.errors import UserError
from transferkit.evaluation.stats import t_interval, verdict
from transferkit.store import RunStore
from transferkit.strategies import STRATEGIES

ALL = "all"
METRIC = "test_accuracy"


def parse_budgets(values: list[int | str | None]) -> list[int | None]:
    """Label budgets: ints >= 1 (1: no validation split), or 'all' / None for every example."""
    out: list[int | None] = []
    for v in values:
        if v is None or str(v).strip().lower() == ALL:
            out.append(None)
            continue
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise UserError(f"Labels per class must be whole numbers or 'all', not {v!r}.") from None
        if n < 1:
            raise UserError(f"Labels per class must be at least 1, not {n}.")
        out.append(n)
    return out


def budget_name(n: int | None) -> int | str:
    return ALL if n is None else n


@dataclass
class CompareResult:
    """The comparison record id, its member runs and the summary table."""

    compare_id: str
    members: list[dict[str, Any]]
    table: list[dict[str, Any]]
    paired: list[dict[str, Any]]
    verdicts: list[str]
    reused: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _find_reusable(store: RunStore, cfg: FitConfig, fingerprint: str):
    rec = store.find("fit", cfg.to_dict())
    if rec is not None and rec.data_fingerprint == fingerprint and METRIC in rec.metrics \
            and rec.extra.get("fold") is None:
        return rec
    return None


def summarise(members: list[dict], strategies: list[str], budgets: list[int | None]):
    """Table rows per (strategy, budget) and paired differences against the first strategy."""
    table, paired, verdicts = [], [], []
    by = {(m["strategy"], m["labels_per_class"], m["seed"]): m[METRIC] for m in members}
    seeds = sorted({m["seed"] for m in members})
    base = strategies[0]
    for b in budgets:
        name = budget_name(b)
        for s in strategies:
            values = [by[(s, name, sd)] for sd in seeds if (s, name, sd) in by]
            iv = t_interval(values, bounds=(0.0, 1.0))
            table.append({"strategy": s, "labels_per_class": name, "n": iv.n, "mean": iv.mean,
                          "std": iv.std, "ci_low": iv.low, "ci_high": iv.high, "values": values})
        where = "with all labels" if b is None else f"at {b} labels per class"
        for s in strategies[1:]:
            diffs = [by[(s, name, sd)] - by[(base, name, sd)] for sd in seeds
                     if (s, name, sd) in by and (base, name, sd) in by]
            if not diffs:
                continue
            iv = t_interval(diffs, bounds=(-1.0, 1.0))
            paired.append({"strategy": s, "baseline": base, "labels_per_class": name, "n": iv.n,
                           "mean_diff": iv.mean, "ci_low": iv.low, "ci_high": iv.high})
            verdicts.append(verdict(s, base, iv, where))
    return table, paired, verdicts


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
    from transferkit.api import fit, make_config

    store = store or RunStore()
    if not strategies:
        raise UserError("Give at least one strategy, e.g. --strategies linear,finetune,scratch.")
    for s in strategies:
        STRATEGIES.get(s)
    if len(set(strategies)) != len(strategies):
        raise UserError(f"Strategies are listed twice: {', '.join(strategies)}.")
    budgets = parse_budgets(labels_per_class)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise UserError("--seeds must be at least 1.")
    base = make_config(data, config=config, **overrides)
    d = base.data
    dataset = load_dataset(d.data, strict=d.strict, path_column=d.path_column,
                           label_column=d.label_column, allow_outside_root=d.allow_outside_root)
    # Split everything first: a budget larger than the data fails before any training.
    plan = []
    for seed in seed_list:
        for b in budgets:
            splits = make_splits(dataset, seed=seed, labels_per_class=b,
                                 val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                                 max_test=d.max_test)
            plan.append((seed, b, splits))
    compare_id = None
    if distributed.is_main():
        compare_id = store.create("compare", {
            "data": d.data, "model": base.model, "strategies": strategies,
            "labels_per_class": [budget_name(b) for b in budgets], "seeds": seed_list,
            "base": base.to_dict()}, seed=seed_list[0], data_fingerprint=dataset.fingerprint)
    compare_id = distributed.broadcast_object(compare_id)
    members, reused, t0 = [], 0, time.perf_counter()
    try:
        for seed, b, splits in plan:
            for s in strategies:
                cfg = dataclasses.replace(base, strategy=s, seed=seed,
                                          data=dataclasses.replace(base.data, labels_per_class=b))
                rec = _find_reusable(store, cfg, dataset.fingerprint) if reuse else None
                if rec is not None:
                    run_id, acc = rec.id, rec.metrics[METRIC]
                    reused += 1
                else:
                    r = fit(config=cfg, dataset=dataset, splits=splits, store=store,
                            parent=compare_id, record={"compare": compare_id})
                    run_id, acc = r.run_id, r.metrics[METRIC]
                members.append({"run": run_id, "strategy": s, "labels_per_class": budget_name(b),
                                "seed": seed, METRIC: acc})
                progress.info(f"compare {compare_id}: {s} @ {budget_name(b)} seed {seed}: "
                              f"{acc:.4f} ({'reused ' if rec else ''}{run_id})")
    except BaseException as e:
        if distributed.is_main():
            store.update(compare_id, extra={"members": members})
            store.fail(compare_id, f"{type(e).__name__}: {e}")
        raise
    table, paired, verdicts = summarise(members, strategies, budgets)
    if distributed.is_main():
        store.update(compare_id, extra={"members": members, "table": table, "paired": paired,
                                        "verdicts": verdicts, "reused": reused,
                                        "dataset": dataset.summary()})
        store.finish(compare_id, metrics={}, timings={"total": time.perf_counter() - t0})
    return CompareResult(compare_id, members, table, paired, verdicts, reused)


def check_comparable(records: list) -> None:
    """Refuse to compare runs on different data or class sets, saying which differ."""
    first = records[0]
    for r in records[1:]:
        if r.data_fingerprint != first.data_fingerprint:
            raise UserError(f"Runs {first.id} and {r.id} used different data (fingerprints "
                            f"{first.data_fingerprint} and {r.data_fingerprint}); their metrics "
                            "are not comparable. Compare runs on the same dataset.")
        ca = first.extra.get("dataset", {}).get("classes")
        cb = r.extra.get("dataset", {}).get("classes")
        if ca != cb:
            raise UserError(f"Runs {first.id} and {r.id} have different class sets; their "
                            "metrics are not comparable.")
