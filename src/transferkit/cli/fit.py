"""``fit`` (and ``fit --cv``), ``compare`` and ``demo``: train, then a table (or JSON)."""

from __future__ import annotations

import argparse
import time

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, print_json, summary, table
from transferkit.config import CompareConfig, DemoConfig, FitConfig

FIT_KEYS = ("test_accuracy", "test_balanced_accuracy", "test_macro_f1", "test_ece", "val_accuracy")


def fit_config(args: argparse.Namespace) -> FitConfig:
    return settings_from_args(FitConfig, args, families=("strategy",))


def cmd_fit(args: argparse.Namespace) -> int:
    from transferkit import distributed
    from transferkit.runs.fit import fit

    if args.cv:
        return _cv(args)
    result = fit(resume=args.resume) if args.resume else fit(config=_checked(fit_config(args)))
    if not distributed.is_main():
        return 0
    values = {
        "run": result.run_id,
        "strategy": result.strategy,
        **{k: result.metrics[k] for k in FIT_KEYS if k in result.metrics},
    }
    if result.skipped:
        values["skipped_inputs"] = result.skipped
    summary(values, f"run {result.run_id}", args.json)
    return 0


def _checked(cfg: FitConfig) -> FitConfig:
    """``cfg``, refused before anything is loaded when it asks for the search without a
    budget (``--strategy auto`` alone)."""
    from transferkit.strategies.auto import check_budget

    check_budget(cfg.strategy, cfg.options.get("budget"))
    return cfg


def _cv(args: argparse.Namespace) -> int:
    from transferkit.runs.cv import cross_validate

    res = cross_validate(config=_checked(fit_config(args)), k=args.cv)
    if args.json:
        print_json(
            {
                "cv": res.cv_id,
                "folds": res.folds,
                "summary": res.summary,
                "pooled_accuracy": res.pooled_accuracy,
            }
        )
        return 0
    table(
        f"cross-validation {res.cv_id} ({args.cv} folds)",
        ["fold", "run", "accuracy", "balanced acc", "macro F1", "ECE"],
        [
            [
                f["fold"],
                f["run"],
                f["test_accuracy"],
                f["test_balanced_accuracy"],
                f["test_macro_f1"],
                f["test_ece"],
            ]
            for f in res.folds
        ],
        no_wrap=("run",),
    )
    s = res.summary["test_accuracy"]
    ci = f" (95% CI {s['ci_low']:.4f}-{s['ci_high']:.4f})" if s["ci_low"] is not None else ""
    out.print(
        f"accuracy {s['mean']:.4f} +/- {s['std']:.4f}{ci}; pooled out-of-fold "
        f"{res.pooled_accuracy:.4f}"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from transferkit.runs.compare import compare

    c = settings_from_args(CompareConfig, args)
    # compare's own --strategy(ies), --seeds and --labels-per-class lists are not the base fit's
    base = settings_from_args(
        FitConfig, args, families=("strategy",), skip=("strategy", "seed", "labels_per_class")
    )
    res = compare(
        config=base,
        strategies=c.strategies,
        labels_per_class=c.labels_per_class,
        seeds=c.seeds,
        reuse=c.reuse,
    )
    if args.json:
        print_json(
            {
                "compare": res.compare_id,
                "table": res.table,
                "paired": res.paired,
                "verdicts": res.verdicts,
                "members": res.members,
                "reused": res.reused,
            }
        )
        return 0
    table(
        f"comparison {res.compare_id} (test accuracy over {c.seeds} seeds)",
        ["labels/class", "strategy", "mean", "std", "95% CI", "n"],
        [
            [
                r["labels_per_class"],
                r["strategy"],
                r["mean"],
                r["std"],
                f"{r['ci_low']:.4f}-{r['ci_high']:.4f}" if r["ci_low"] is not None else "-",
                r["n"],
            ]
            for r in res.table
        ],
    )
    for v in res.verdicts:
        out.print(v)
    if res.reused:
        out.print(f"({res.reused} cells reused from the store)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """ImageNet EfficientNet-Lite0 -> a built-in dataset with linear and finetune, then (with
    a budget) the automatic search; a table of the runs and one report of them all."""
    d = settings_from_args(DemoConfig, args)
    results = [_demo_fit(d, strategy) for strategy in ("linear", "finetune")]
    if d.budget not in ("0", "0s", ""):
        results.append(_demo_search(d))
    table(
        f"{d.model} -> {d.data}, {d.labels_per_class} labels per class, {d.image_size}px",
        ["run", "strategy", "test accuracy", "balanced acc", "macro F1", "seconds"],
        [
            [
                r.run_id,
                r.strategy,
                r.metrics["test_accuracy"],
                r.metrics["test_balanced_accuracy"],
                r.metrics["test_macro_f1"],
                f"{sec:.0f}",
            ]
            for r, sec in results
        ],
        no_wrap=("run",),
    )
    html = _demo_report([r for r, _ in results])
    out.print(
        "Inspect a run with `transferkit runs show RUN`; predict with "
        "`transferkit predict --run RUN IMAGES`."
    )
    out.print(f"report: {html}")
    return 0


def _demo_fit(d: DemoConfig, strategy: str):
    """One transfer of the demo's model with ``strategy``; (result, seconds)."""
    from transferkit import progress
    from transferkit.runs.fit import fit

    progress.info(f"demo: {strategy} transfer of {d.model} to {d.data}")
    t0 = time.perf_counter()
    r = fit(
        d.data,
        model=d.model,
        strategy=strategy,
        seed=d.seed,
        labels_per_class=d.labels_per_class,
        image_size=d.image_size,
        max_test=d.max_test,
        epochs=d.epochs,
    )
    return r, time.perf_counter() - t0


def _demo_search(d: DemoConfig):
    """The automatic search within the demo's budget; (winning result, seconds), the
    winner's strategy labelled with its model and input size."""
    from transferkit import progress
    from transferkit.runs.fit import fit

    progress.info(f"demo: automatic search for {d.budget} (models, strategies, recipes)")
    t0 = time.perf_counter()
    r = fit(
        d.data,
        strategy="auto",
        budget=d.budget,
        seed=d.seed,
        labels_per_class=d.labels_per_class,
        max_test=d.max_test,
    )
    if r.strategy == "ensemble":
        configs = {m.get("config") for m in r.info.get("members", [])}
        r.strategy = f"auto: ensemble of {len(configs)} configurations"
    else:
        size = f" @{r.info['image_size']}px" if r.info.get("image_size") else ""
        r.strategy = f"auto: {r.strategy} {r.info.get('model')}{size}"
    return r, time.perf_counter() - t0


def _demo_report(results: list) -> str:
    """One report of the demo's runs (and the search's record, when there was one)."""
    from transferkit.report import build_report, default_out_dir
    from transferkit.store import RunStore

    store = RunStore()
    records = [store.get(r.run_id) for r in results]
    records += [store.get(r.info["search"]) for r in results if r.info.get("search")]
    html, _ = build_report(records, default_out_dir(records), title="transferkit demo")
    return html
