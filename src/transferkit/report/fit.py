"""Report sections for fit runs: metrics, per-class results, plots, and a cross-run summary."""

from __future__ import annotations

from typing import Any

from transferkit.report import plots
from transferkit.report.common import (
    dataset_name,
    describe,
    labels_per_class,
    pct,
    provenance,
    status_blocks,
    strategy_of,
    value,
)
from transferkit.report.document import Details, Image, Section, Table
from transferkit.report.sections import fit_blocks
from transferkit.store import RunRecord
from transferkit.timing import ordered

METRIC_ROWS = (
    ("accuracy", "accuracy (%)", True),
    ("balanced_accuracy", "balanced accuracy (%)", True),
    ("macro_f1", "macro F1 (%)", True),
    ("top5_accuracy", "top-5 accuracy (%)", True),
    ("ece", "expected calibration error (%)", True),
    ("nll", "negative log-likelihood", False),
    ("n", "examples", False),
)
_STRUCTURED = {"per_class", "confusion"}


def fit_metrics_table(r: RunRecord) -> Table:
    m = r.metrics
    rows = []
    for key, name, percent in METRIC_ROWS:
        if f"val_{key}" in m or f"test_{key}" in m:
            rows.append(
                [name, value(m.get(f"val_{key}"), percent), value(m.get(f"test_{key}"), percent)]
            )
    known = {f"{p}{k}" for p in ("val_", "test_") for k, _, _ in METRIC_ROWS}
    known |= {f"{p}{k}" for p in ("val_", "test_") for k in _STRUCTURED}
    for key, v in sorted(m.items()):
        if key not in known and isinstance(v, (int, float)) and not isinstance(v, bool):
            rows.append([key, "", value(v, False)])
    return Table(
        ["metric", "validation", "test"],
        rows,
        caption="Metrics (validation picked the checkpoint and settings; test was held "
        "out and used only for this report)",
    )


def per_class_table(r: RunRecord) -> Table | None:
    per = r.metrics.get("test_per_class")
    if not isinstance(per, dict) or not per:
        return None
    rows = [
        [c, pct(v.get("precision"), 1), pct(v.get("recall"), 1), v.get("support")]
        for c, v in per.items()
    ]
    return Table(
        ["class", "precision (%)", "recall (%)", "support"], rows, caption="Per class, test split"
    )


def fit_plots(r: RunRecord) -> list:
    """Learning curves, confusion matrix and reliability diagram, each when its data exists."""
    out: list = []
    history = r.extra.get("history") or []
    if history:
        note = " (a single entry: this strategy trains in one step)" if len(history) == 1 else ""
        out.append(
            Image(
                f"{r.id}-learning-curves",
                plots.learning_curves(history),
                f"Learning curves of run {r.id}",
                "Loss and validation accuracy per epoch" + note,
            )
        )
    stages = [(k, v) for k, v in ordered(r.timings) if v > 0]
    if len(stages) > 1:
        out.append(
            Image(
                f"{r.id}-time",
                plots.stage_bar(stages),
                f"Where the time of run {r.id} went",
                "Seconds per stage (each counted once: a stage inside another "
                "is not part of it); per-epoch times are in the history",
            )
        )
    conf = r.metrics.get("test_confusion")
    classes = (r.extra.get("dataset") or {}).get("classes") or list(
        r.metrics.get("test_per_class") or {}
    )
    if conf:
        out.append(
            Image(
                f"{r.id}-confusion",
                plots.confusion_matrix(conf, classes),
                f"Confusion matrix of run {r.id}",
                "Test split; each row (true class) sums to 100%",
            )
        )
    calib = r.extra.get("calibration")
    if isinstance(calib, dict) and sum(int(c or 0) for c in calib.get("count") or []) > 0:
        out.append(
            Image(
                f"{r.id}-reliability",
                plots.reliability_diagram(calib),
                f"Reliability diagram of run {r.id}",
                "Test split: accuracy against confidence per bin; bars on the diagonal "
                "mean calibrated confidences",
            )
        )
    return out


def fit_section(r: RunRecord) -> Section:

    title = f"Run {r.id}: {strategy_of(r)} {r.config.get('model', '?')} on {dataset_name(r)}"
    blocks: list = status_blocks(r)
    if r.metrics:
        blocks.append(fit_metrics_table(r))
    pc = per_class_table(r)
    if pc is not None:
        blocks.append(
            pc
            if len(pc.rows) <= 20
            else Details(f"Per-class results ({len(pc.rows)} classes)", [pc])
        )
    blocks += fit_plots(r)
    blocks += fit_blocks(r)  # registered extras, e.g. report/explain.py's "what transferred"
    blocks += provenance(r)
    return Section(title, blocks, anchor=r.id)


def fit_summary(runs: list[RunRecord]) -> tuple[Section, list[str]]:
    """A table and bar chart across fit runs, and verdicts comparing the best to the others."""
    cols = [
        "run",
        "status",
        "strategy",
        "model",
        "data",
        "labels/class",
        "seed",
        "test acc (%)",
        "balanced acc (%)",
        "macro F1 (%)",
        "ECE (%)",
    ]
    rows = [
        [
            r.id,
            r.status,
            strategy_of(r),
            r.config.get("model"),
            dataset_name(r),
            labels_per_class(r),
            r.seed,
            pct(r.metrics.get("test_accuracy")),
            pct(r.metrics.get("test_balanced_accuracy")),
            pct(r.metrics.get("test_macro_f1")),
            pct(r.metrics.get("test_ece")),
        ]
        for r in runs
    ]
    blocks: list = [Table(cols, rows, caption="Fit runs")]
    scored = [r for r in runs if isinstance(r.metrics.get("test_accuracy"), (int, float))]
    if scored:
        ordered = sorted(scored, key=lambda r: -r.metrics["test_accuracy"])
        blocks.append(
            Image(
                "runs-test-accuracy",
                plots.bar_chart(
                    [f"{strategy_of(r)} {r.config.get('model', '')} ({r.id})" for r in ordered],
                    [100 * r.metrics["test_accuracy"] for r in ordered],
                    xlabel="test accuracy (%)",
                    title="Test accuracy by run",
                    highlight=0,
                ),
                "Test accuracy by run",
                "Sorted best first",
            )
        )
    return Section("Results", blocks, anchor="results"), fit_verdicts(scored)


def single_verdict(r: RunRecord) -> str:
    m = r.metrics
    return (
        f"{describe(r)}: {pct(m['test_accuracy'], 1)}% test accuracy (balanced "
        f"{pct(m.get('test_balanced_accuracy'), 1)}%, macro-F1 {pct(m.get('test_macro_f1'), 1)}%, "
        f"calibration error {pct(m.get('test_ece'), 1)}%) on {dataset_name(r)}."
    )


def fit_verdicts(runs: list[RunRecord]) -> list[str]:
    """Per dataset (fingerprint): the best run and its lead over each other run, in points
    (a lone run on its data gets a one-line summary). ``runs`` all have a test accuracy."""
    groups: dict[Any, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault(r.data_fingerprint or dataset_name(r), []).append(r)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(single_verdict(group[0]))
            continue
        group = sorted(group, key=lambda r: -r.metrics["test_accuracy"])
        best = group[0]
        acc = best.metrics["test_accuracy"]
        leads = "; ".join(
            f"{100 * (acc - o.metrics['test_accuracy']):.1f} points ahead of {describe(o)}"
            for o in group[1:]
        )
        out.append(
            f"Best on {dataset_name(best)}: {describe(best)} with {pct(acc, 1)}% test "
            f"accuracy, {leads}. These are single runs without confidence intervals; "
            "transferkit compare repeats them over seeds on paired splits."
        )
    if len(groups) > 1:
        out.append(
            "The runs used different data (different fingerprints), so runs are only "
            "compared within the same data."
        )
    return out
