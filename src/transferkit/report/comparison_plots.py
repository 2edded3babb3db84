"""Plots that set things side by side: bars across runs or models, and time per stage."""

from __future__ import annotations

import math
from collections.abc import Sequence

from transferkit.report.canvas import COLORS, figure, label, png


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    errors: Sequence[tuple[float, float] | None] | None = None,
    *,
    xlabel: str = "",
    title: str = "",
    highlight: int | None = None,
) -> bytes:
    """Horizontal bars in the given order (top to bottom), optional (low, high) error bars.

    Used for rankings and for test accuracy across runs; ``highlight`` marks one bar (the best).
    """
    if not labels or len(labels) != len(values):
        raise ValueError("bar_chart needs as many labels as values, at least one")
    n = len(labels)
    fig = figure(7, max(1.6, 0.38 * n + 1.1))
    ax = fig.subplots()
    ys = list(range(n))[::-1]
    colors = [COLORS[1] if i == highlight else COLORS[0] for i in range(n)]
    xerr = None
    if errors is not None:
        lo = [v - e[0] if e else 0.0 for v, e in zip(values, errors)]
        hi = [e[1] - v if e else 0.0 for v, e in zip(values, errors)]
        xerr = [lo, hi]
    ax.barh(ys, values, color=colors, xerr=xerr, capsize=3 if xerr else 0, height=0.65)
    ax.set_yticks(ys)
    ax.set_yticklabels([label(s, 48) for s in labels], fontsize=9)
    finite = [v for v in values if math.isfinite(v)]
    span = max(finite) if finite else 1.0
    for y, v in zip(ys, values):
        if math.isfinite(v):
            ax.text(v + 0.01 * span, y, f"{v:.3g}", va="center", fontsize=8)
    ax.set_xlim(min(0.0, min(finite, default=0.0)), span * 1.12 if span > 0 else 1.0)
    ax.set_xlabel(label(xlabel, 80))
    ax.grid(alpha=0.3, axis="x")
    if title:
        ax.set_title(label(title, 90), fontsize=11)
    return png(fig)


def stage_bar(
    stages: Sequence[tuple[str, float]],
    mark: float | None = None,
    mark_label: str = "",
    title: str = "",
) -> bytes:
    """One stacked bar: seconds per stage (in the order given), with an optional vertical
    mark (the budget of a search)."""
    fig = figure(8, 1.5)
    ax = fig.subplots()
    left = 0.0
    for i, (name, sec) in enumerate(stages):
        ax.barh(
            [0],
            [sec],
            left=left,
            color=COLORS[i % len(COLORS)],
            label=f"{name} {sec:.1f} s" if sec < 10 else f"{name} {sec:.0f} s",
        )
        left += sec
    if mark is not None:
        ax.axvline(mark, color="#333", ls="--", lw=1)
        ax.text(mark, 0.45, f" {mark_label}", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_xlabel("seconds")
    ax.set_xlim(0, max(mark or 0.0, left, 1e-3) * 1.08)
    ax.legend(
        fontsize=7,
        ncol=min(5, max(1, len(stages))),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.45),
    )
    if title:
        ax.set_title(label(title, 90), fontsize=10)
    return png(fig)
