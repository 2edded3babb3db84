"""Report sections for each kind of run record: fit, compare, cv, and a generic fallback.

Each builder turns one :class:`RunRecord` into a :class:`Section` of plain blocks (tables,
plots, key-value lists). Accuracies are shown in percent; the stored values are fractions.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from transferkit.report import plots
from transferkit.report.document import (
    Bullets,
    Code,
    Details,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    fmt,
)
from transferkit.store import RunRecord

METRIC_ROWS = (("accuracy", "accuracy (%)", True), ("balanced_accuracy", "balanced accuracy (%)", True),
               ("macro_f1", "macro F1 (%)", True), ("top5_accuracy", "top-5 accuracy (%)", True),
               ("ece", "expected calibration error (%)", True), ("nll", "negative log-likelihood", False),
               ("n", "examples", False))
_STRUCTURED = {"per_class", "confusion"}


def pct(v: Any, digits: int = 2) -> str:
    """A fraction as a percent string ('' when missing)."""
    return f"{100 * v:.{digits}f}" if isinstance(v, (int, float)) and v == v else ""


def _value(v: Any, percent: bool) -> str:
    if percent:
        return pct(v)
    if isinstance(v, float):
        return f"{v:.4f}"
    return fmt(v)


def dataset_name(r: RunRecord) -> str:
    ds = r.extra.get("dataset") or {}
    data = r.config.get("data")
    spec = data.get("data") if isinstance(data, dict) else data
    return str(ds.get("name") or spec or "?")


def strategy_of(r: RunRecord) -> str:
    chosen = (r.extra.get("strategy_info") or {}).get("chosen")
    s = str(r.config.get("strategy", "?"))
    return f"{chosen} (auto)" if chosen and s == "auto" else s


def labels_per_class(r: RunRecord) -> str:
    data = r.config.get("data") if isinstance(r.config.get("data"), dict) else {}
    v = data.get("labels_per_class")
    return "all" if v is None else str(v)


def describe(r: RunRecord) -> str:
    """'finetune effnet-lite0, 100 labels/class, seed 0 (run r2024...)'."""
    return (f"{strategy_of(r)} {r.config.get('model', '?')}, {labels_per_class(r)} labels/class, "
            f"seed {r.seed} (run {r.id})")


def status_blocks(r: RunRecord) -> list:
    if r.status == "done":
        return []
    text = f"Run {r.id} is {r.status}; its results are incomplete."
    if r.status == "interrupted" and r.kind == "fit":
        text += f" Continue it with `transferkit fit --resume {r.id}`."
    if r.error:
        text += f" Error: {r.error.strip().splitlines()[-1][:500]}"
    return [Paragraph(text, kind="warning")]


def provenance(r: RunRecord, command: str | None) -> list:
    """What was run: the data, the record's identity, versions, config and how to reproduce it."""
    ds = r.extra.get("dataset") or {}
    pairs: list[tuple[str, Any]] = [
        ("run", r.id), ("kind", r.kind), ("status", r.status), ("created", r.created),
        ("host", r.host), ("seed", r.seed), ("data fingerprint", r.data_fingerprint),
    ]
    if ds:
        classes = ds.get("classes") or []
        shown = ", ".join(map(str, classes[:30])) + (" ..." if len(classes) > 30 else "")
        pairs += [("dataset", ds.get("name")), ("modality", ds.get("modality")),
                  ("examples", ds.get("size")), (f"classes ({len(classes)})", shown),
                  ("skipped inputs", ds.get("skipped"))]
    splits = r.extra.get("splits")
    if isinstance(splits, dict):
        pairs.append(("splits", ", ".join(f"{k} {v}" for k, v in splits.items())))
    for key in ("backbone", "device", "world_size", "parent"):
        v = r.extra.get(key) if key != "parent" else r.parent
        if v not in (None, "", {}):
            pairs.append((key, json.dumps(v) if isinstance(v, (dict, list)) else v))
    if r.timings:
        pairs.append(("timings (s)", ", ".join(f"{k} {v:.1f}" for k, v in r.timings.items()
                                               if isinstance(v, (int, float)))))
    blocks: list = [KeyValues([(k, v) for k, v in pairs if v not in (None, "")], caption="What was run")]
    if command:
        blocks.append(Code(command, caption="Command to reproduce it"))
    detail = [Code(json.dumps(r.config, indent=2, default=str), caption="Resolved config")]
    if r.versions:
        detail.append(KeyValues(sorted(r.versions.items()), caption="Package versions"))
    skipped = r.extra.get("skipped") or []
    if skipped:
        detail.append(Table(["input", "reason"], [[s.get("item"), s.get("reason")] for s in skipped[:200]],
                            caption=f"Skipped inputs ({len(skipped)})"))
    blocks.append(Details("Config, versions and skipped inputs", detail))
    return blocks


# ---------------------------------------------------------------------------- fit
def fit_metrics_table(r: RunRecord) -> Table:
    m = r.metrics
    rows = []
    for key, name, percent in METRIC_ROWS:
        if f"val_{key}" in m or f"test_{key}" in m:
            rows.append([name, _value(m.get(f"val_{key}"), percent),
                         _value(m.get(f"test_{key}"), percent)])
    known = {f"{p}{k}" for p in ("val_", "test_") for k, _, _ in METRIC_ROWS}
    known |= {f"{p}{k}" for p in ("val_", "test_") for k in _STRUCTURED}
    for key, v in sorted(m.items()):
        if key not in known and isinstance(v, (int, float)) and not isinstance(v, bool):
            rows.append([key, "", _value(v, False)])
    return Table(["metric", "validation", "test"], rows,
                 caption="Metrics (validation picked the checkpoint and settings; test was held "
                         "out and used only for this report)")


def per_class_table(r: RunRecord) -> Table | None:
    per = r.metrics.get("test_per_class")
    if not isinstance(per, dict) or not per:
        return None
    rows = [[c, pct(v.get("precision"), 1), pct(v.get("recall"), 1), v.get("support")]
            for c, v in per.items()]
    return Table(["class", "precision (%)", "recall (%)", "support"], rows,
                 caption="Per class, test split")


def fit_plots(r: RunRecord) -> list:
    """Learning curves, confusion matrix and reliability diagram, each when its data exists."""
    out: list = []
    history = r.extra.get("history") or []
    if history:
        note = " (a single entry: this strategy trains in one step)" if len(history) == 1 else ""
        out.append(Image(f"{r.id}-learning-curves", plots.learning_curves(history),
                         f"Learning curves of run {r.id}", "Loss and validation accuracy per epoch" + note))
    conf = r.metrics.get("test_confusion")
    classes = (r.extra.get("dataset") or {}).get("classes") or list(r.metrics.get("test_per_class") or {})
    if conf:
        out.append(Image(f"{r.id}-confusion", plots.confusion_matrix(conf, classes),
                         f"Confusion matrix of run {r.id}",
                         "Test split; each row (true class) sums to 100%"))
    calib = r.extra.get("calibration")
    if isinstance(calib, dict) and sum(int(c or 0) for c in calib.get("count") or []) > 0:
        out.append(Image(f"{r.id}-reliability", plots.reliability_diagram(calib),
                         f"Reliability diagram of run {r.id}",
                         "Test split: accuracy against confidence per bin; bars on the diagonal "
                         "mean calibrated confidences"))
    return out


def fit_section(r: RunRecord) -> Section:
    from transferkit.cli import reproduce_command

    title = f"Run {r.id}: {strategy_of(r)} {r.config.get('model', '?')} on {dataset_name(r)}"
    blocks: list = status_blocks(r)
    if r.metrics:
        blocks.append(fit_metrics_table(r))
    pc = per_class_table(r)
    if pc is not None:
        blocks.append(pc if len(pc.rows) <= 20 else Details(f"Per-class results ({len(pc.rows)} classes)", [pc]))
    blocks += fit_plots(r)
    blocks += provenance(r, reproduce_command(r.config) if r.config else None)
    return Section(title, blocks, anchor=r.id)


def fit_summary(runs: list[RunRecord]) -> tuple[Section, list[str]]:
    """A table and bar chart across fit runs, and verdicts comparing the best to the others."""
    cols = ["run", "status", "strategy", "model", "data", "labels/class", "seed",
            "test acc (%)", "balanced acc (%)", "macro F1 (%)", "ECE (%)"]
    rows = [[r.id, r.status, strategy_of(r), r.config.get("model"), dataset_name(r),
             labels_per_class(r), r.seed, pct(r.metrics.get("test_accuracy")),
             pct(r.metrics.get("test_balanced_accuracy")), pct(r.metrics.get("test_macro_f1")),
             pct(r.metrics.get("test_ece"))] for r in runs]
    blocks: list = [Table(cols, rows, caption="Fit runs")]
    scored = [r for r in runs if isinstance(r.metrics.get("test_accuracy"), (int, float))]
    if scored:
        ordered = sorted(scored, key=lambda r: -r.metrics["test_accuracy"])
        blocks.append(Image("runs-test-accuracy", plots.bar_chart(
            [f"{strategy_of(r)} {r.config.get('model', '')} ({r.id})" for r in ordered],
            [100 * r.metrics["test_accuracy"] for r in ordered], xlabel="test accuracy (%)",
            title="Test accuracy by run", highlight=0), "Test accuracy by run",
            "Sorted best first"))
    return Section("Results", blocks, anchor="results"), fit_verdicts(scored)


def fit_verdicts(runs: list[RunRecord]) -> list[str]:
    """Per dataset (fingerprint): the best run and its lead over each other run, in points."""
    groups: dict[Any, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault(r.data_fingerprint or dataset_name(r), []).append(r)
    out = []
    for group in groups.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda r: -r.metrics["test_accuracy"])
        best = group[0]
        acc = best.metrics["test_accuracy"]
        leads = "; ".join(f"{100 * (acc - o.metrics['test_accuracy']):.1f} points ahead of {describe(o)}"
                          for o in group[1:])
        out.append(f"Best on {dataset_name(best)}: {describe(best)} with {pct(acc, 1)}% test "
                   f"accuracy, {leads}. These are single runs without confidence intervals; "
                   "`transferkit compare` repeats them over seeds on paired splits.")
    if len(groups) > 1:
        out.append("The runs used different data (different fingerprints), so runs are only "
                   "compared within the same data.")
    return out


# ------------------------------------------------------------------------ compare
def compare_command(cfg: dict) -> str:
    """The `transferkit compare` command line for a stored comparison config."""
    from transferkit import cli
    from transferkit.config import FitConfig

    custom = getattr(cli, "compare_command", None)
    if callable(custom):
        return custom(cfg)
    seeds = list(cfg.get("seeds") or [0])
    seeds_arg = str(len(seeds)) if seeds == list(range(len(seeds))) else ",".join(map(str, seeds))
    parts = ["transferkit compare", "--data", shlex.quote(str(cfg.get("data", ""))),
             "--model", shlex.quote(str(cfg.get("model", ""))),
             "--strategies", shlex.quote(",".join(map(str, cfg.get("strategies") or []))),
             "--labels-per-class", shlex.quote(",".join(map(str, cfg.get("labels_per_class") or []))),
             "--seeds", seeds_arg]
    base = cfg.get("base")
    if isinstance(base, dict):
        d = FitConfig()
        neutral = {**base, "model": d.model, "strategy": d.strategy, "seed": d.seed,
                   "data": {**(base.get("data") or {}), "data": "", "labels_per_class": None}}
        rest = cli.reproduce_command(neutral)[len("transferkit fit"):].strip()
        if rest:
            parts.append(rest)
    return " ".join(parts)


def _ci(low: Any, high: Any, digits: int = 2) -> str:
    if low is None or high is None:
        return "n/a (one seed)"
    return f"{pct(low, digits)} to {pct(high, digits)}"


def compare_section(r: RunRecord) -> tuple[Section, list[str]]:
    extra = r.extra
    cfg = r.config
    title = (f"Comparison {r.id}: {', '.join(map(str, cfg.get('strategies') or []))} "
             f"on {dataset_name(r)}")
    blocks: list = status_blocks(r)
    table = extra.get("table") or []
    if table:
        rows = [[t.get("strategy"), t.get("labels_per_class"), t.get("n"), pct(t.get("mean")),
                 pct(t.get("std")), _ci(t.get("ci_low"), t.get("ci_high"))] for t in table]
        blocks.append(Table(["strategy", "labels/class", "seeds", "mean test acc (%)", "std (%)",
                             "95% CI (%)"], rows, caption="Test accuracy per cell"))
    paired = extra.get("paired") or []
    if paired:
        rows = [[p.get("strategy"), p.get("baseline"), p.get("labels_per_class"), p.get("n"),
                 pct(p.get("mean_diff")), _ci(p.get("ci_low"), p.get("ci_high"))] for p in paired]
        blocks.append(Table(["strategy", "vs baseline", "labels/class", "paired seeds",
                             "mean difference (points)", "95% CI (points)"], rows,
                            caption="Paired differences (same splits per seed)"))
    if table:
        blocks.append(Image(f"{r.id}-data-efficiency", plots.data_efficiency(table),
                            f"Data-efficiency curve of comparison {r.id}",
                            "Mean test accuracy over seeds; error bars are 95% confidence "
                            "intervals (none with a single seed)"))
    members = extra.get("members") or []
    if members:
        rows = [[m.get("run"), m.get("strategy"), m.get("labels_per_class"), m.get("seed"),
                 pct(m.get("test_accuracy"))] for m in members]
        blocks.append(Details(f"Member runs ({len(members)})", [Table(
            ["run", "strategy", "labels/class", "seed", "test acc (%)"], rows)]))
    blocks += provenance(r, compare_command(cfg) if cfg else None)
    return Section(title, blocks, anchor=r.id), [str(v) for v in extra.get("verdicts") or []]


# ----------------------------------------------------------------------------- cv
def cv_section(r: RunRecord) -> tuple[Section, list[str]]:
    from transferkit.cli import reproduce_command

    fit_cfg = r.config.get("fit") or {}
    k = r.config.get("k")
    blocks: list = status_blocks(r)
    summary = r.extra.get("summary") or {}
    verdicts = []
    if summary:
        rows = [[m.removeprefix("test_"), s.get("n"), pct(s.get("mean")), pct(s.get("std")),
                 _ci(s.get("ci_low"), s.get("ci_high"))] for m, s in summary.items()]
        blocks.append(Table(["metric", "folds", "mean (%)", "std (%)", "95% CI (%)"], rows,
                            caption=f"{k}-fold cross-validation"))
        acc = summary.get("test_accuracy") or {}
        if acc.get("mean") is not None:
            verdicts.append(f"{k}-fold cross-validation of {fit_cfg.get('strategy', '?')} "
                            f"{fit_cfg.get('model', '?')}: {pct(acc['mean'], 1)}% test accuracy "
                            f"(95% CI {_ci(acc.get('ci_low'), acc.get('ci_high'), 1)}).")
    folds = r.extra.get("folds") or []
    if folds:
        rows = [[f.get("fold"), f.get("run"), f.get("n_test"), pct(f.get("test_accuracy")),
                 pct(f.get("test_balanced_accuracy")), pct(f.get("test_macro_f1"))] for f in folds]
        blocks.append(Table(["fold", "run", "test examples", "accuracy (%)", "balanced acc (%)",
                             "macro F1 (%)"], rows, caption="Per fold"))
        scored = [f for f in folds if isinstance(f.get("test_accuracy"), (int, float))]
        if scored:
            blocks.append(Image(f"{r.id}-folds", plots.bar_chart(
                [f"fold {f.get('fold')}" for f in scored], [100 * f["test_accuracy"] for f in scored],
                xlabel="test accuracy (%)", title="Accuracy per fold"), "Accuracy per fold"))
    command = f"{reproduce_command(fit_cfg)} --cv {k}" if fit_cfg else None
    blocks += provenance(r, command)
    return Section(f"Cross-validation {r.id} on {dataset_name(r)}", blocks, anchor=r.id), verdicts


# ------------------------------------------------------------------------ generic
def generic_section(r: RunRecord) -> Section:
    blocks: list = status_blocks(r)
    scalar = [[k, _value(v, False)] for k, v in sorted(r.metrics.items())
              if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if scalar:
        blocks.append(Table(["metric", "value"], scalar, caption="Metrics"))
    verdicts = r.extra.get("verdicts")
    if isinstance(verdicts, list) and verdicts:
        blocks.append(Bullets([str(v) for v in verdicts]))
    blocks += provenance(r, None)
    return Section(f"{r.kind.capitalize()} run {r.id}", blocks, anchor=r.id)
