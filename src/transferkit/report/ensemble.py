"""Report section for an ensemble run, reported as one model: its test metrics and plots, its
members with their weights and own test accuracies, and its prediction time per item against
its heaviest member's."""

from __future__ import annotations

from typing import Any

from transferkit.report.common import dataset_name, pct, provenance, status_blocks
from transferkit.report.document import Paragraph, Section, Table
from transferkit.report.fit import fit_metrics_table, fit_plots, per_class_table
from transferkit.report.sections import SECTIONS
from transferkit.store import RunRecord


def members_table(r: RunRecord) -> Table:
    """One row per member: its run, what it is, its weight and its own test accuracy."""
    members = r.extra.get("members") or r.config.get("members") or []
    rows = [
        [
            m.get("run"),
            m.get("label"),
            m.get("model"),
            m.get("strategy"),
            f"{m.get('weight', 0):.3f}",
            pct(m.get("test_accuracy")),
        ]
        for m in sorted(members, key=lambda m: -float(m.get("weight", 0)))
    ]
    return Table(
        ["member run", "label", "model", "strategy", "weight", "test acc (%)"],
        rows,
        caption=f"Members ({len(members)}), heaviest first: the ensemble predicts the "
        "weighted average of their class probabilities",
    )


def timing_text(t: dict[str, Any] | None) -> str:
    """The prediction time per item of the ensemble against its heaviest member ('' when
    the run was not timed: no test split)."""
    if not t or not t.get("seconds_per_item"):
        return ""
    ratio = f"{t['ratio']:.1f}x" if t.get("ratio") else "n/a"
    return (
        f"Prediction time per item: {1000 * t['seconds_per_item']:.2f} ms for the ensemble, "
        f"{1000 * t['heaviest_member_seconds_per_item']:.2f} ms for its heaviest member "
        f"(run {t.get('heaviest_member')}): {ratio} ({t.get('items')} test items on "
        f"{t.get('device')}, each member reading them with its own preprocessing)."
    )


def _verdict(r: RunRecord) -> list[str]:
    acc = r.metrics.get("test_accuracy")
    if not isinstance(acc, (int, float)):
        return []
    members = r.extra.get("members") or []
    scored = [m for m in members if isinstance(m.get("test_accuracy"), (int, float))]
    text = (
        f"Ensemble {r.id} of {len(members)} members: {pct(acc, 1)}% test accuracy on "
        f"{dataset_name(r)}"
    )
    if scored:
        best = max(scored, key=lambda m: m["test_accuracy"])
        text += (
            f", {100 * (acc - best['test_accuracy']):+.1f} points against its best member "
            f"({best.get('label')}, run {best.get('run')})"
        )
    t = r.extra.get("prediction_time") or {}
    if t.get("ratio"):
        text += f", at {t['ratio']:.1f}x the prediction time of its heaviest member"
    return [text + "."]


@SECTIONS.register("ensemble")
def ensemble_section(r: RunRecord) -> tuple[Section, list[str]]:
    """The ensemble's section (metrics, members, timing, plots, provenance) and its verdict."""
    n = len(r.extra.get("members") or r.config.get("members") or [])
    blocks: list = status_blocks(r)
    if r.metrics:
        blocks.append(fit_metrics_table(r))
    blocks.append(members_table(r))
    timing = timing_text(r.extra.get("prediction_time"))
    if timing:
        blocks.append(Paragraph(timing))
    pc = per_class_table(r)
    if pc is not None:
        blocks.append(pc)
    blocks += fit_plots(r)
    blocks += provenance(r)
    title = f"Run {r.id}: ensemble of {n} models on {dataset_name(r)}"
    return Section(title, blocks, anchor=r.id), _verdict(r)
