"""``runs show`` of an ensemble run: its members with their weights and runs, and its
prediction time per item against its heaviest member's."""

from __future__ import annotations

from transferkit.cli.output import out, table


def show_members(r) -> None:
    """The members table (heaviest first) and the timing line of ensemble record ``r``."""
    from transferkit.report.common import pct
    from transferkit.report.ensemble import timing_text

    members = r.extra.get("members") or r.config.get("members") or []
    table(
        f"members of ensemble {r.id} (weighted average of their probabilities)",
        ["run", "label", "model", "strategy", "weight", "test acc (%)"],
        [
            [
                m.get("run"),
                m.get("label"),
                m.get("model"),
                m.get("strategy"),
                f"{float(m.get('weight', 0)):.3f}",
                pct(m.get("test_accuracy"), 1),
            ]
            for m in sorted(members, key=lambda m: -float(m.get("weight", 0)))
        ],
        no_wrap=("run",),
    )
    text = timing_text(r.extra.get("prediction_time"))
    out.print(
        text or "prediction time: not measured (the ensemble was recorded without a test split)",
        markup=False,
        soft_wrap=True,
    )
    if r.config.get("search"):
        out.print(
            f"made by search {r.config['search']}: `transferkit runs show {r.config['search']}`",
            markup=False,
            soft_wrap=True,
        )
