"""Plots of an automatic search: every trial's validation curve (pruned ones greyed). Where the
budget went is :func:`transferkit.report.plots.stage_bar` with the budget marked."""

from __future__ import annotations

from collections.abc import Sequence

from transferkit.report.canvas import COLORS, label
from transferkit.report.canvas import figure as _figure
from transferkit.report.canvas import png as _png


def trial_curves(trials: Sequence[dict], chosen: int | None = None) -> bytes:
    """Validation accuracy per epoch of each trial: completed trials in colour, pruned and
    failed ones in grey, the chosen trial thick."""
    fig = _figure(8, 3.6)
    ax = fig.subplots()
    drawn = 0
    best = sorted(
        (t for t in trials if t.get("state") == "complete"), key=lambda t: -(t.get("val") or 0.0)
    )[:6]
    named = {t.get("trial") for t in best} | {chosen}
    for i, t in enumerate(trials):
        curve = [100 * float(v) for v in t.get("curve") or []]
        if not curve:
            continue
        xs = list(range(1, len(curve) + 1))
        done = t.get("state") == "complete"
        ax.plot(
            xs,
            curve,
            marker="o",
            ms=3,
            color=COLORS[i % len(COLORS)] if done else "#bbbbbb",
            lw=3 if t.get("trial") == chosen else 1.2,
            alpha=1.0 if done else 0.8,
            label=label(f"{t.get('trial')}: {t.get('strategy')} {t.get('model')}", 36)
            if done and t.get("trial") in named
            else None,
        )
        drawn += 1
    if not drawn:
        ax.text(
            0.5,
            0.5,
            "no trial reported a validation score",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#777",
        )
    ax.set_xlabel("epoch (fidelity)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=2)
    return _png(fig)
