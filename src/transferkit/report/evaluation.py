"""Report sections for evaluation records: comparisons, cross-validation, and other kinds."""

from __future__ import annotations

from typing import Any

from transferkit.config import compare_command, reproduce_command
from transferkit.report import plots
from transferkit.report.common import dataset_name, pct, provenance, status_blocks, value
from transferkit.report.document import Bullets, Details, Image, Section, Table
from transferkit.report.sections import SECTIONS
from transferkit.store import RunRecord

# ------------------------------------------------------------------------ compare


def _ci(low: Any, high: Any, digits: int = 2) -> str:
    if low is None or high is None:
        return "n/a (one seed)"
    return f"{pct(low, digits)} to {pct(high, digits)}"


@SECTIONS.register("compare")
def compare_section(r: RunRecord) -> tuple[Section, list[str]]:
    extra = r.extra
    cfg = r.config
    title = (
        f"Comparison {r.id}: {', '.join(map(str, cfg.get('strategies') or []))} "
        f"on {dataset_name(r)}"
    )
    blocks: list = status_blocks(r)
    table = extra.get("table") or []
    if table:
        rows = [
            [
                t.get("strategy"),
                t.get("labels_per_class"),
                t.get("n"),
                pct(t.get("mean")),
                pct(t.get("std")),
                _ci(t.get("ci_low"), t.get("ci_high")),
            ]
            for t in table
        ]
        blocks.append(
            Table(
                ["strategy", "labels/class", "seeds", "mean test acc (%)", "std (%)", "95% CI (%)"],
                rows,
                caption="Test accuracy per cell",
            )
        )
    paired = extra.get("paired") or []
    if paired:
        rows = [
            [
                p.get("strategy"),
                p.get("baseline"),
                p.get("labels_per_class"),
                p.get("n"),
                pct(p.get("mean_diff")),
                _ci(p.get("ci_low"), p.get("ci_high")),
            ]
            for p in paired
        ]
        blocks.append(
            Table(
                [
                    "strategy",
                    "vs baseline",
                    "labels/class",
                    "paired seeds",
                    "mean difference (points)",
                    "95% CI (points)",
                ],
                rows,
                caption="Paired differences (same splits per seed)",
            )
        )
    if table:
        blocks.append(
            Image(
                f"{r.id}-data-efficiency",
                plots.data_efficiency(table),
                f"Data-efficiency curve of comparison {r.id}",
                "Mean test accuracy over seeds; error bars are 95% confidence "
                "intervals (none with a single seed)",
            )
        )
    members = extra.get("members") or []
    if members:
        rows = [
            [
                m.get("run"),
                m.get("strategy"),
                m.get("labels_per_class"),
                m.get("seed"),
                pct(m.get("test_accuracy")),
            ]
            for m in members
        ]
        blocks.append(
            Details(
                f"Member runs ({len(members)})",
                [Table(["run", "strategy", "labels/class", "seed", "test acc (%)"], rows)],
            )
        )
    blocks += provenance(r, compare_command(cfg) if cfg else None)
    return Section(title, blocks, anchor=r.id), [str(v) for v in extra.get("verdicts") or []]


# ----------------------------------------------------------------------------- cv
@SECTIONS.register("cv")
def cv_section(r: RunRecord) -> tuple[Section, list[str]]:

    fit_cfg = r.config.get("fit") or {}
    k = r.config.get("k")
    blocks: list = status_blocks(r)
    summary = r.extra.get("summary") or {}
    verdicts = []
    if summary:
        rows = [
            [
                m.removeprefix("test_"),
                s.get("n"),
                pct(s.get("mean")),
                pct(s.get("std")),
                _ci(s.get("ci_low"), s.get("ci_high")),
            ]
            for m, s in summary.items()
        ]
        blocks.append(
            Table(
                ["metric", "folds", "mean (%)", "std (%)", "95% CI (%)"],
                rows,
                caption=f"{k}-fold cross-validation",
            )
        )
        acc = summary.get("test_accuracy") or {}
        if acc.get("mean") is not None:
            verdicts.append(
                f"{k}-fold cross-validation of {fit_cfg.get('strategy', '?')} "
                f"{fit_cfg.get('model', '?')}: {pct(acc['mean'], 1)}% test accuracy "
                f"(95% CI {_ci(acc.get('ci_low'), acc.get('ci_high'), 1)})."
            )
    folds = r.extra.get("folds") or []
    if folds:
        rows = [
            [
                f.get("fold"),
                f.get("run"),
                f.get("n_test"),
                pct(f.get("test_accuracy")),
                pct(f.get("test_balanced_accuracy")),
                pct(f.get("test_macro_f1")),
            ]
            for f in folds
        ]
        blocks.append(
            Table(
                [
                    "fold",
                    "run",
                    "test examples",
                    "accuracy (%)",
                    "balanced acc (%)",
                    "macro F1 (%)",
                ],
                rows,
                caption="Per fold",
            )
        )
        scored = [f for f in folds if isinstance(f.get("test_accuracy"), (int, float))]
        if scored:
            blocks.append(
                Image(
                    f"{r.id}-folds",
                    plots.bar_chart(
                        [f"fold {f.get('fold')}" for f in scored],
                        [100 * f["test_accuracy"] for f in scored],
                        xlabel="test accuracy (%)",
                        title="Accuracy per fold",
                    ),
                    "Accuracy per fold",
                )
            )
    command = f"{reproduce_command(fit_cfg)} --cv {k}" if fit_cfg else None
    blocks += provenance(r, command)
    return Section(f"Cross-validation {r.id} on {dataset_name(r)}", blocks, anchor=r.id), verdicts


# ------------------------------------------------------------------------ generic
def generic_section(r: RunRecord) -> Section:
    blocks: list = status_blocks(r)
    scalar = [
        [k, value(v, False)]
        for k, v in sorted(r.metrics.items())
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    if scalar:
        blocks.append(Table(["metric", "value"], scalar, caption="Metrics"))
    verdicts = r.extra.get("verdicts")
    if isinstance(verdicts, list) and verdicts:
        blocks.append(Bullets([str(v) for v in verdicts]))
    blocks += provenance(r, None)
    return Section(f"{r.kind.capitalize()} run {r.id}", blocks, anchor=r.id)
