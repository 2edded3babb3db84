"""Report sections for evaluation records: comparisons, cross-validation, and other kinds."""

from __future__ import annotations

from typing import Any

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


def _cell_table(table: list[dict]) -> Table:
    """Mean, spread and interval of test accuracy for each (strategy, labels per class) cell."""
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
    return Table(
        ["strategy", "labels/class", "seeds", "mean test acc (%)", "std (%)", "95% CI (%)"],
        rows,
        caption="Test accuracy per cell",
    )


def _paired_table(paired: list[dict]) -> Table:
    """Each strategy's difference to its baseline on the same splits, with its interval."""
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
    return Table(
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


def _efficiency_figure(run_id: str, table: list[dict]) -> Image:
    """The data-efficiency curve drawn from the cell table."""
    return Image(
        f"{run_id}-data-efficiency",
        plots.data_efficiency(table),
        f"Data-efficiency curve of comparison {run_id}",
        "Mean test accuracy over seeds; error bars are 95% confidence "
        "intervals (none with a single seed)",
    )


def _members_details(members: list[dict]) -> Details:
    """The fit runs the comparison is made of, folded away."""
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
    return Details(
        f"Member runs ({len(members)})",
        [Table(["run", "strategy", "labels/class", "seed", "test acc (%)"], rows)],
    )


@SECTIONS.register("compare")
def compare_section(r: RunRecord) -> tuple[Section, list[str]]:
    """A comparison: its cells, paired differences, data-efficiency curve and member runs;
    its verdicts are the ones the comparison recorded."""
    extra = r.extra
    cfg = r.config
    title = (
        f"Comparison {r.id}: {', '.join(map(str, cfg.get('strategies') or []))} "
        f"on {dataset_name(r)}"
    )
    blocks: list = status_blocks(r)
    table = extra.get("table") or []
    paired = extra.get("paired") or []
    members = extra.get("members") or []
    if table:
        blocks.append(_cell_table(table))
    if paired:
        blocks.append(_paired_table(paired))
    if table:
        blocks.append(_efficiency_figure(r.id, table))
    if members:
        blocks.append(_members_details(members))
    blocks += provenance(r)
    return Section(title, blocks, anchor=r.id), [str(v) for v in extra.get("verdicts") or []]


# ----------------------------------------------------------------------------- cv


def _summary_table(summary: dict, k: Any) -> Table:
    """Each metric's mean, spread and interval over the folds."""
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
    return Table(
        ["metric", "folds", "mean (%)", "std (%)", "95% CI (%)"],
        rows,
        caption=f"{k}-fold cross-validation",
    )


def _cv_verdicts(summary: dict, k: Any, fit_cfg: dict) -> list[str]:
    """The cross-validated test accuracy in one sentence, when there is one."""
    acc = summary.get("test_accuracy") or {}
    if acc.get("mean") is None:
        return []
    return [
        f"{k}-fold cross-validation of {fit_cfg.get('strategy', '?')} "
        f"{fit_cfg.get('model', '?')}: {pct(acc['mean'], 1)}% test accuracy "
        f"(95% CI {_ci(acc.get('ci_low'), acc.get('ci_high'), 1)})."
    ]


def _fold_table(folds: list[dict]) -> Table:
    """Each fold's run and test metrics."""
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
    return Table(
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


def _fold_figure(run_id: str, folds: list[dict]) -> Image | None:
    """Test accuracy per fold as bars; none when no fold was scored."""
    scored = [f for f in folds if isinstance(f.get("test_accuracy"), (int, float))]
    if not scored:
        return None
    return Image(
        f"{run_id}-folds",
        plots.bar_chart(
            [f"fold {f.get('fold')}" for f in scored],
            [100 * f["test_accuracy"] for f in scored],
            xlabel="test accuracy (%)",
            title="Accuracy per fold",
        ),
        "Accuracy per fold",
    )


@SECTIONS.register("cv")
def cv_section(r: RunRecord) -> tuple[Section, list[str]]:
    """A cross-validation: the summary over folds, each fold, and the accuracy per fold."""
    fit_cfg = r.config.get("fit") or {}
    k = r.config.get("k")
    blocks: list = status_blocks(r)
    summary = r.extra.get("summary") or {}
    verdicts = []
    if summary:
        blocks.append(_summary_table(summary, k))
        verdicts = _cv_verdicts(summary, k, fit_cfg)
    folds = r.extra.get("folds") or []
    if folds:
        blocks.append(_fold_table(folds))
        figure = _fold_figure(r.id, folds)
        if figure is not None:
            blocks.append(figure)
    blocks += provenance(r)
    return Section(f"Cross-validation {r.id} on {dataset_name(r)}", blocks, anchor=r.id), verdicts


# ------------------------------------------------------------------------ generic
def generic_section(r: RunRecord) -> Section:
    """Any other kind of run: its status, scalar metrics, recorded verdicts and provenance."""
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
    blocks += provenance(r)
    return Section(f"{r.kind.capitalize()} run {r.id}", blocks, anchor=r.id)
