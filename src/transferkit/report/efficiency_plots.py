"""The data-efficiency plot of a comparison: accuracy against labels per class, per strategy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from transferkit.report.canvas import COLORS, figure, label, png

ALL = "all"


def _budget_positions(budgets: Sequence[Any]) -> dict[Any, float]:
    """x positions on a log axis: numeric budgets as themselves, 'all' to the right of them."""
    numeric = sorted({float(b) for b in budgets if b != ALL and b is not None})
    pos: dict[Any, float] = {b: float(b) for b in budgets if b != ALL and b is not None}
    if any(b == ALL or b is None for b in budgets):
        right = numeric[-1] * 2.5 if numeric else 1.0
        pos[ALL] = right
    return pos


def _strategy_lines(ax, rows: Sequence[dict], budgets: list, pos: dict[Any, float]) -> list:
    """One line with 95% CI error bars per strategy, nudged apart sideways; the strategies."""
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    for i, s in enumerate(strategies):
        pts = sorted(
            ((pos[b], r) for b, r in zip(budgets, rows) if r["strategy"] == s), key=lambda p: p[0]
        )
        dodge = 1.04 ** (i - (len(strategies) - 1) / 2)  # keep error bars apart
        xs = [x * dodge for x, _ in pts]
        ys = [100 * r["mean"] for _, r in pts]
        lo = [
            100 * (r["mean"] - r["ci_low"]) if r.get("ci_low") is not None else 0.0 for _, r in pts
        ]
        hi = [
            100 * (r["ci_high"] - r["mean"]) if r.get("ci_high") is not None else 0.0
            for _, r in pts
        ]
        ax.errorbar(
            xs,
            ys,
            yerr=[lo, hi],
            marker="o",
            ms=5,
            capsize=4,
            lw=1.6,
            color=COLORS[i % len(COLORS)],
            label=label(s),
        )
    return strategies


def _budget_axis(ax, pos: dict[Any, float]) -> None:
    """A log x axis with one tick per budget, named by it ("all" for the whole set)."""
    ax.set_xscale("log")
    ticks = sorted(set(pos.values()))
    names = {v: k for k, v in pos.items()}
    ax.set_xticks(ticks)
    ax.set_xticklabels([ALL if names[t] == ALL else f"{names[t]:g}" for t in ticks])
    ax.minorticks_off()
    lo_x, hi_x = min(ticks), max(ticks)
    ax.set_xlim(lo_x / 1.6, hi_x * 1.6)


def _accuracy_limits(ax, rows: Sequence[dict]) -> None:
    """y limits that hold every mean and interval end, with a margin, within 0-100%."""
    ends = [
        100 * r[k]
        for r in rows
        for k in ("mean", "ci_low", "ci_high")
        if isinstance(r.get(k), (int, float))
    ]
    ax.set_ylim(max(min(ends) - 3, -1.0), min(max(ends) + 3, 101.0))  # accuracy lives in 0-100


def data_efficiency(rows: Sequence[dict], metric: str = "test accuracy", title: str = "") -> bytes:
    """Metric vs labels per class on a log axis, one line per strategy, 95% CI error bars.

    ``rows`` are compare table rows: ``strategy``, ``labels_per_class`` (int or ``"all"``),
    ``mean`` and optional ``ci_low`` / ``ci_high`` (fractions; shown in percent).
    """
    rows = [r for r in rows if isinstance(r.get("mean"), (int, float)) and math.isfinite(r["mean"])]
    if not rows:
        raise ValueError("data_efficiency needs at least one row with a mean")
    budgets = [ALL if r["labels_per_class"] in (None, ALL) else r["labels_per_class"] for r in rows]
    pos = _budget_positions(budgets)
    fig = figure(7, 4.2)
    ax = fig.subplots()
    strategies = _strategy_lines(ax, rows, budgets, pos)
    _budget_axis(ax, pos)
    _accuracy_limits(ax, rows)
    ax.set_xlabel("labelled examples per class (log scale)")
    ax.set_ylabel(f"{label(metric)} (%)")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=9, title="strategy" if len(strategies) > 1 else None)
    ax.set_title(
        label(title or f"{metric} vs labels per class (error bars: 95% CI)", 90), fontsize=11
    )
    return png(fig)
