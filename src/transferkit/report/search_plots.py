"""Plots of an automatic search: every trial's validation curve (pruned ones greyed), and where
the budget went, stage by stage."""

from __future__ import annotations

from collections.abc import Sequence

from transferkit.report.plots import COLORS, _figure, _png, label


def trial_curves(trials: Sequence[dict], chosen: int | None = None, title: str = "") -> bytes:
    """Validation accuracy per epoch of each trial: completed trials in colour, pruned and
    failed ones in grey, the chosen trial thick."""
    fig = _figure(8, 3.6)
    ax = fig.subplots()
    drawn = 0
    best = sorted((t for t in trials if t.get("state") == "complete"),
                  key=lambda t: -(t.get("val") or 0.0))[:6]
    named = {t.get("trial") for t in best} | {chosen}
    for i, t in enumerate(trials):
        curve = [100 * float(v) for v in t.get("curve") or []]
        if not curve:
            continue
        xs = list(range(1, len(curve) + 1))
        done = t.get("state") == "complete"
        ax.plot(xs, curve, marker="o", ms=3,
                color=COLORS[i % len(COLORS)] if done else "#bbbbbb",
                lw=3 if t.get("trial") == chosen else 1.2, alpha=1.0 if done else 0.8,
                label=label(f"{t.get('trial')}: {t.get('strategy')} {t.get('model')}", 36)
                if done and t.get("trial") in named else None)
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no trial reported a validation score", ha="center", va="center",
                transform=ax.transAxes, color="#777")
    ax.set_xlabel("epoch (fidelity)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(label(title, 90), fontsize=11)
    return _png(fig)


def budget_bar(stages: dict[str, float], budget_s: float, title: str = "") -> bytes:
    """One stacked bar: seconds per stage against the budget."""
    fig = _figure(8, 1.5)
    ax = fig.subplots()
    left = 0.0
    for i, (name, sec) in enumerate(stages.items()):
        ax.barh([0], [sec], left=left, color=COLORS[i % len(COLORS)], label=f"{name} {sec:.0f} s")
        left += sec
    ax.axvline(budget_s, color="#333", ls="--", lw=1)
    ax.text(budget_s, 0.45, " budget", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_xlabel("seconds")
    ax.set_xlim(0, max(budget_s, left) * 1.08)
    ax.legend(fontsize=7, ncol=min(4, max(1, len(stages))), loc="upper center",
              bbox_to_anchor=(0.5, -0.45))
    if title:
        ax.set_title(label(title, 90), fontsize=10)
    return _png(fig)
