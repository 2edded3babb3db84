"""Summaries of paired comparisons (strategies x labels per class x seeds on the same
splits): label budgets, the table of means and intervals, the paired differences and their
verdicts, and the check that runs are comparable at all. ``runs/compare.py`` runs them."""

from __future__ import annotations

from transferkit.errors import UserError
from transferkit.evaluation.stats import t_interval, verdict

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
            raise UserError(
                f"Labels per class must be whole numbers or 'all', not {v!r}."
            ) from None
        if n < 1:
            raise UserError(f"Labels per class must be at least 1, not {n}.")
        out.append(n)
    return out


def budget_name(n: int | None) -> int | str:
    return ALL if n is None else n


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
            table.append(
                {
                    "strategy": s,
                    "labels_per_class": name,
                    "n": iv.n,
                    "mean": iv.mean,
                    "std": iv.std,
                    "ci_low": iv.low,
                    "ci_high": iv.high,
                    "values": values,
                }
            )
        where = "with all labels" if b is None else f"at {b} labels per class"
        for s in strategies[1:]:
            diffs = [
                by[(s, name, sd)] - by[(base, name, sd)]
                for sd in seeds
                if (s, name, sd) in by and (base, name, sd) in by
            ]
            if not diffs:
                continue
            iv = t_interval(diffs, bounds=(-1.0, 1.0))
            paired.append(
                {
                    "strategy": s,
                    "baseline": base,
                    "labels_per_class": name,
                    "n": iv.n,
                    "mean_diff": iv.mean,
                    "ci_low": iv.low,
                    "ci_high": iv.high,
                }
            )
            verdicts.append(verdict(s, base, iv, where))
    return table, paired, verdicts


def check_comparable(records: list) -> None:
    """Refuse to compare runs on different data or class sets, saying which differ."""
    first = records[0]
    for r in records[1:]:
        if r.data_fingerprint != first.data_fingerprint:
            raise UserError(
                f"Runs {first.id} and {r.id} used different data (fingerprints "
                f"{first.data_fingerprint} and {r.data_fingerprint}); their metrics "
                "are not comparable. Compare runs on the same dataset."
            )
        ca = first.extra.get("dataset", {}).get("classes")
        cb = r.extra.get("dataset", {}).get("classes")
        if ca != cb:
            raise UserError(
                f"Runs {first.id} and {r.id} have different class sets; their "
                "metrics are not comparable."
            )
