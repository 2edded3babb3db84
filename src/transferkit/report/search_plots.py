"""Plots of an automatic search: every trial's validation curve (pruned ones greyed). Where the
budget went (:func:`budget_parts`, :func:`budget_words`) is drawn by
:func:`transferkit.report.plots.stage_bar` with the budget marked."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

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


_STAGES = ("rank", "cheap", "trials", "test")  # the search's stages, in the order they run
_BEFORE = re.compile(r"before interruption (\d+)$")


def budget_parts(
    extra: Mapping[str, Any], timings: Mapping[str, Any], finished: bool
) -> list[tuple[str, float]]:
    """Where a search's budget went, in order: each call that was interrupted (``before
    interruption N``; the budget is the total of all calls), then the last call's stages and
    its time outside them (``other``). A finished search's timings hold all of it; an
    unfinished one has its account (saved as it ran) and its last call's stages."""
    account = extra.get("budget_account")
    if finished and timings:
        parts = dict(timings)
    elif isinstance(account, Mapping):
        stages = dict(extra.get("stages") or {})
        before = account.get("before") or []
        parts = {f"before interruption {i}": s for i, s in enumerate(before, 1)}
        parts.update(stages)
        parts["other"] = float(account.get("this_call") or 0.0) - sum(stages.values())
    else:  # a record from before the account was kept
        parts = dict(extra.get("stages") or timings or {})
    seconds = {
        k: float(v)
        for k, v in parts.items()
        if k != "total" and isinstance(v, (int, float)) and v > 0
    }

    def order(name: str) -> tuple[int, int, str]:
        m = _BEFORE.match(name)
        if m:
            return (0, int(m.group(1)), "")
        return (1, _STAGES.index(name) if name in _STAGES else len(_STAGES), name)

    tail = sorted((k for k in seconds if k != "other"), key=order)
    return [(k, seconds[k]) for k in tail + (["other"] if "other" in seconds else [])]


def budget_words(parts: Sequence[tuple[str, float]], budget_s: float, status: str) -> str:
    """The budget bar in words, for a search whose record is ``status``: the budget is the
    total of every call, and how each call of a resumed search used it."""
    before = [(k, s) for k, s in parts if _BEFORE.match(k)]
    last = sum(s for k, s in parts if not _BEFORE.match(k))
    total = last + sum(s for _, s in before)
    share = f"{total:.0f} s of the {budget_s:.0f} s budget ({100 * total / budget_s:.0f}%)"
    rule = "The budget is the total of every call of the search"
    if status == "running":
        return f"{share} spent so far (the search is running). {rule}."
    if status != "done":
        return (
            f"{share} spent when the search stopped ({status}). {rule}: resumed with "
            f"--resume, it gets the {max(0.0, budget_s - total):.0f} s left (with none left, "
            "it chooses among what finished)."
        )
    if not before:
        return f"{share}, in one call. {rule}: a resumed search gets what is left."
    calls = "".join(f"{s:.0f} s {k}, " for k, s in before)
    return (
        f"{rule} (a resumed search gets what the earlier calls left): {calls}then "
        f"{last:.0f} s in the last call; {share}."
    )
