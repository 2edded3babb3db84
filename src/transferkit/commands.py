"""What each CLI command does: call the API and format its answer (tables, JSON, CSV)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from transferkit.cli import (
    config_from_args,
    dataclass_from_args,
    print_json,
    reproduce_command,
    write_csv,
)

out = Console(highlight=False)
if not out.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    out = Console(highlight=False, width=160)


RESUMABLE = ("fit", "pretrain", "adapt")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


def cmd_zoo(args: argparse.Namespace) -> int:
    from transferkit.zoo import list_zoo

    rows = list_zoo(args.pattern)
    if args.json:
        print_json(rows)
        return 0
    t = Table(title="transferkit zoo")
    t.add_column("name", no_wrap=True)
    for col in ("modality", "params", "features", "input", "offline", "note"):
        t.add_column(col)
    for r in rows:
        params = f"{r['params'] / 1e6:.2f}M" if r.get("params") else "?"
        t.add_row(r["name"], r["modality"], params, _fmt(r.get("features")),
                  _fmt(r.get("input_size")), "yes" if r.get("offline") else "no", r.get("note", ""))
    out.print(t)
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from transferkit import distributed
    from transferkit.api import fit

    if getattr(args, "cv", None):
        return _cv(args)
    if args.resume:
        result = fit(resume=args.resume)
    else:
        result = fit(config=config_from_args(args))
    if not distributed.is_main():
        return 0
    keys = ("test_accuracy", "test_balanced_accuracy", "test_macro_f1", "test_ece", "val_accuracy")
    summary = {"run": result.run_id, "strategy": result.strategy,
               **{k: result.metrics[k] for k in keys if k in result.metrics}}
    if args.json:
        print_json(summary)
    else:
        t = Table(title=f"run {result.run_id}")
        t.add_column("metric")
        t.add_column("value")
        for k, v in summary.items():
            t.add_row(k, _fmt(v))
        out.print(t)
    return 0


def _cv(args: argparse.Namespace) -> int:
    from transferkit.evaluation.cv import cross_validate

    res = cross_validate(config=config_from_args(args), k=args.cv)
    if args.json:
        print_json({"cv": res.cv_id, "folds": res.folds, "summary": res.summary,
                    "pooled_accuracy": res.pooled_accuracy})
        return 0
    t = Table(title=f"cross-validation {res.cv_id} ({args.cv} folds)")
    t.add_column("fold")
    t.add_column("run", no_wrap=True)
    for col in ("accuracy", "balanced acc", "macro F1", "ECE"):
        t.add_column(col)
    for f in res.folds:
        t.add_row(str(f["fold"]), f["run"], _fmt(f["test_accuracy"]),
                  _fmt(f["test_balanced_accuracy"]), _fmt(f["test_macro_f1"]), _fmt(f["test_ece"]))
    s = res.summary["test_accuracy"]
    ci = f" (95% CI {s['ci_low']:.4f}-{s['ci_high']:.4f})" if s["ci_low"] is not None else ""
    out.print(t)
    out.print(f"accuracy {s['mean']:.4f} +/- {s['std']:.4f}{ci}; pooled out-of-fold "
              f"{res.pooled_accuracy:.4f}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from transferkit.evaluation.compare import compare

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    res = compare(config=config_from_args(args), strategies=strategies, labels_per_class=budgets,
                  seeds=args.seeds, reuse=not args.no_reuse)
    if args.json:
        print_json({"compare": res.compare_id, "table": res.table, "paired": res.paired,
                    "verdicts": res.verdicts, "members": res.members, "reused": res.reused})
        return 0
    t = Table(title=f"comparison {res.compare_id} (test accuracy over {args.seeds} seeds)")
    for col in ("labels/class", "strategy", "mean", "std", "95% CI", "n"):
        t.add_column(col)
    for row in res.table:
        ci = (f"{row['ci_low']:.4f}-{row['ci_high']:.4f}" if row["ci_low"] is not None else "-")
        t.add_row(str(row["labels_per_class"]), row["strategy"], _fmt(row["mean"]),
                  _fmt(row["std"]), ci, str(row["n"]))
    out.print(t)
    for v in res.verdicts:
        out.print(v)
    if res.reused:
        out.print(f"({res.reused} cells reused from the store)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from transferkit.store import RunStore

    store = RunStore()
    action = args.runs_command or "list"
    if action == "list":
        runs = store.list(kind=getattr(args, "kind", None), status=getattr(args, "status", None),
                          limit=getattr(args, "limit", 20))
        if getattr(args, "json", False):
            print_json([r.to_dict() for r in runs])
            return 0
        t = Table(title=f"runs in {store.root}")
        t.add_column("id", no_wrap=True)
        for col in ("kind", "status", "created", "model", "strategy", "data", "test acc"):
            t.add_column(col)
        for r in runs:
            c = r.config
            t.add_row(r.id, r.kind, r.status, r.created[:19], c.get("model", ""),
                      r.extra.get("strategy_info", {}).get("chosen", c.get("strategy", "")),
                      c.get("data", {}).get("data", "") if isinstance(c.get("data"), dict) else "",
                      _fmt(r.metrics.get("test_accuracy")))
        out.print(t)
        return 0
    if action == "show":
        r = store.get(args.run)
        if args.json:
            print_json(r.to_dict())
            return 0
        out.print(f"[bold]run {r.id}[/bold]  kind={r.kind}  status={r.status}  seed={r.seed}")
        out.print(f"created {r.created}  updated {r.updated}")
        out.print(f"data fingerprint {r.data_fingerprint}")
        if r.error:
            out.print(f"error: {r.error}")
        if r.status == "interrupted" and r.kind in RESUMABLE:
            out.print(f"resumable: `transferkit {r.kind} --resume {r.id}` continues it from its "
                      "last checkpoint")
        scalar = {k: v for k, v in r.metrics.items() if isinstance(v, (int, float))}
        if scalar:
            t = Table(title="metrics")
            t.add_column("metric")
            t.add_column("value")
            for k, v in sorted(scalar.items()):
                t.add_row(k, _fmt(v))
            out.print(t)
        out.print("timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in r.timings.items()))
        out.print("versions: " + ", ".join(f"{k}={v}" for k, v in r.versions.items()))
        skipped = r.extra.get("skipped") or []
        if skipped:
            out.print(f"skipped inputs ({len(skipped)}): " +
                      "; ".join(f"{s['item']} ({s['reason']})" for s in skipped[:10]))
        out.print("config:")
        print_json(r.config)
        if r.kind == "fit":
            out.print(f"reproduce: {reproduce_command(r.config)}")
        out.print(f"artifacts: {store.root / 'runs' / r.id}")
        return 0
    if action == "compare":
        from transferkit.evaluation.paired import compare_runs

        res = compare_runs(args.run_a, args.run_b, store)
        if args.json:
            print_json(res)
            return 0
        t = Table(title=f"{res['a']} (a) vs {res['b']} (b)")
        for col in ("metric", "a", "b", "a - b"):
            t.add_column(col)
        for k, v in res["metrics"].items():
            t.add_row(k, _fmt(v["a"]), _fmt(v["b"]), _fmt(v.get("a_minus_b")))
        out.print(t)
        p = res["paired"]
        if p:
            out.print(f"paired on {p['n']} shared test examples: accuracy a - b = "
                      f"{100 * p['accuracy_diff']:+.1f} points (95% bootstrap CI "
                      f"{100 * p['ci_low']:.1f} to {100 * p['ci_high']:.1f}); McNemar p = "
                      f"{p['p_value']:.3g} ({p['only_a_correct']} only a right, "
                      f"{p['only_b_correct']} only b right)")
        else:
            out.print(res["note"])
        return 0
    if action == "delete":
        r = store.get(args.run)
        store.delete(r.id)
        out.print(f"deleted run {r.id}")
        return 0
    return 2


def cmd_pretrain(args: argparse.Namespace) -> int:

    from transferkit.config import PretrainConfig
    from transferkit.pretrain import pretrain

    if args.resume:
        res = pretrain(resume=args.resume)
    else:
        res = pretrain(config=dataclass_from_args(PretrainConfig, args))
    summary = {"run": res.run_id, "name": res.name, **res.metrics}
    if _print_summary(summary, f"pretrain run {res.run_id}", args.json):
        return 0
    out.print(f"Use it as a source model: transferkit fit --model {res.name} --data TARGET ...")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from transferkit.api import predict

    write_csv(predict(args.run, args.inputs, batch_size=args.batch_size, device=args.device))
    return 0


def _print_summary(summary: dict, title: str, as_json: bool) -> bool:
    """Print ``summary`` as JSON or as a two-column table; True when JSON was printed."""
    if as_json:
        print_json(summary)
        return True
    t = Table(title=title)
    t.add_column("")
    t.add_column("value")
    for k, v in summary.items():
        t.add_row(k, _fmt(v))
    out.print(t)
    return False


def cmd_demo(args: argparse.Namespace) -> int:
    """ImageNet EfficientNet-Lite0 -> a built-in dataset with linear and finetune."""
    from transferkit import progress
    from transferkit.api import fit

    results = []
    for strategy in ("linear", "finetune"):
        progress.info(f"demo: {strategy} transfer of {args.model} to {args.data}")
        t0 = time.perf_counter()
        r = fit(args.data, model=args.model, strategy=strategy, seed=args.seed,
                labels_per_class=args.labels_per_class, image_size=args.image_size,
                max_test=args.max_test, epochs=args.epochs)
        results.append((r, time.perf_counter() - t0))
    t = Table(title=f"{args.model} -> {args.data}, {args.labels_per_class} labels per class, "
              f"{args.image_size}px")
    t.add_column("run", no_wrap=True)
    for col in ("strategy", "test accuracy", "balanced acc", "macro F1", "seconds"):
        t.add_column(col)
    for r, sec in results:
        m = r.metrics
        t.add_row(r.run_id, r.strategy, _fmt(m["test_accuracy"]), _fmt(m["test_balanced_accuracy"]),
                  _fmt(m["test_macro_f1"]), f"{sec:.0f}")
    out.print(t)
    from transferkit.report import build_report, default_out_dir
    from transferkit.store import RunStore

    store = RunStore()
    records = [store.get(r.run_id) for r, _ in results]
    html, _ = build_report(records, default_out_dir(records), title="transferkit demo")
    out.print("Inspect a run with `transferkit runs show RUN`; predict with "
              "`transferkit predict --run RUN IMAGES`.")
    out.print(f"report: {html}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write an HTML report and its Markdown twin for runs or comparisons; print the HTML path."""
    from pathlib import Path

    from transferkit import progress
    from transferkit.errors import UserError
    from transferkit.report import build_report, default_out_dir, latest_fits, load_records
    from transferkit.store import RunStore

    store = RunStore()
    records = load_records(args.runs, store) if args.runs else []
    if args.last is not None:
        seen = {r.id for r in records}
        records += [r for r in latest_fits(args.last, store) if r.id not in seen]
    if not records:
        raise UserError("Name the runs to report on (`transferkit report RUN [RUN ...]`; fit, "
                        "compare or cv run ids) or use --last N. `transferkit runs list` shows them.")
    out_dir = Path(args.out) if args.out else default_out_dir(records, store)
    html_path, md_path = build_report(records, out_dir, title=args.title)
    progress.info(f"report written: {html_path} (Markdown twin: {md_path})")
    print(html_path)
    return 0


def _rank_scores(args: argparse.Namespace) -> list[str]:
    from transferkit.ranking import DEFAULT_SCORES

    listed = [x.strip() for x in args.scores.split(",")] if args.scores else []
    if args.score:
        return [args.score.strip()] + [x for x in listed if x != args.score.strip()]
    return listed or list(DEFAULT_SCORES)


def _rank_params(args: argparse.Namespace) -> dict[str, dict]:
    params: dict[str, dict] = {}
    if args.knn_k is not None:
        params["knn"] = {"k": args.knn_k}
    if args.probe_folds is not None:
        params["linear-probe"] = {"folds": args.probe_folds}
    return params


def cmd_rank(args: argparse.Namespace) -> int:
    """Rank candidates; a table with why each empty cell is empty, or JSON."""
    from transferkit.ranking import rank

    result = rank(args.data, args.models, scores=_rank_scores(args),
                  max_examples=args.max_examples, seed=args.seed,
                  labels_per_class=args.labels_per_class, image_size=args.image_size,
                  device=args.device, batch_size=args.batch_size,
                  text_column=args.text_column, label_column=args.label_column,
                  score_params=_rank_params(args))
    if args.json:
        print_json(result.to_dict())
        return 0
    t = Table(title=f"rank {result.run_id}: {result.data}, {result.n_examples} examples, "
              f"{result.num_classes} classes, by {result.primary}")
    for col in ("#", "model", "status", *result.scores, "seconds", "note"):
        t.add_column(col, no_wrap=col in ("#", "model"))
    for r in result.rows:
        pos = str(result.order.index(r.model) + 1) if r.model in result.order else "-"
        notes: dict[str, list[str]] = {}
        for name, why in r.empty.items():
            notes.setdefault(why, []).append(name)
        note = r.reason or "; ".join(f"{', '.join(n)}: {why}" for why, n in notes.items())
        t.add_row(pos, r.model, r.status, *(_fmt(r.scores.get(s)) for s in result.scores),
                  f"{r.seconds:.1f}", note)
    out.print(t)
    if result.best:
        out.print(f"best by {result.primary}: {result.best}")
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    """Source-target distances as a table (per-class MMD below), or JSON."""
    from transferkit.domain_similarity import similarity

    r = similarity(args.source, args.target, args.model, max_examples=args.max_examples,
                   seed=args.seed, permutations=args.permutations, image_size=args.image_size,
                   device=args.device, batch_size=args.batch_size,
                   text_column=args.text_column, label_column=args.label_column)
    if args.json:
        print_json(r.to_dict())
        return 0
    out.print(f"similarity {r.run_id}: {r.source} vs {r.target} in {r.model} features "
              f"({r.n_source} + {r.n_target} examples)")
    t = Table()
    t.add_column("measure")
    t.add_column("value")
    for k in ("mmd2", "p_value", "bandwidth", "proxy_a_distance", "domain_error"):
        t.add_row(k, _fmt(getattr(r, k)))
    out.print(t)
    if r.class_mmd:
        c = Table(title="MMD^2 per shared class")
        c.add_column("class")
        c.add_column("mmd2")
        for name, v in r.class_mmd.items():
            c.add_row(name, _fmt(v) if v is not None else "(too few examples)")
        out.print(c)
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    """Adapt, then a table of candidates (label-free risk; target accuracy when allowed)."""
    import dataclasses

    from transferkit.adaptation.run import adapt
    from transferkit.config import AdaptConfig

    names = {f.name for f in dataclasses.fields(AdaptConfig)}
    given = {k: v for k, v in vars(args).items() if k in names}
    res = adapt(resume=args.resume) if args.resume else adapt(**given)
    from transferkit import distributed

    if not distributed.is_main():  # under torchrun, rank 0 alone prints
        return 0
    if args.json:
        print_json({"run": res.run_id, "chosen": res.chosen, "oracle": res.oracle,
                    "rule": res.rule, "metrics": res.metrics, "table": res.table})
        return 0
    t = Table(title=f"adapt {res.run_id}: chosen by {res.rule} (label-free)")
    cols = ["candidate", "seeds", f"{res.rule} risk", "source val acc", "proxy A-dist"]
    evaluated = any(r.get("target_accuracy") is not None for r in res.table)
    if evaluated:
        cols.append("target acc (report only)")
    for c in cols:
        t.add_column(c, no_wrap=c == "candidate")
    for r in res.table:
        mark = (" *" if r["candidate"] == res.chosen else "") + (
            " (oracle)" if r["candidate"] == res.oracle else "")
        row = [r["candidate"] + mark, str(r["n"]), _fmt(r["selection_score"]),
               _fmt(r.get("source_val_accuracy")), _fmt(r.get("pad"))]
        if evaluated:
            row.append(_fmt(r.get("target_accuracy")))
        t.add_row(*row)
    out.print(t)
    fallback = res.metrics.get("selection_rule") != res.metrics.get("selection_rule_asked")
    if fallback:
        out.print(f"note: {res.metrics.get('selection_rule_asked')} was not usable: compared "
                  f"every candidate on "
                  f"{res.metrics.get('selection_rule')} (see `transferkit report {res.run_id}`).")
    out.print(f"chosen without target labels: {res.chosen} (*); predict with "
              f"`transferkit predict --run {res.run_id} INPUTS`; report with "
              f"`transferkit report {res.run_id}`.")
    if res.oracle is not None:
        out.print(f"oracle (target labels) would pick {res.oracle}: gap "
                  f"{100 * res.metrics.get('selection_gap', 0.0):.1f} points.")
    return 0


def cmd_zeroshot(args: argparse.Namespace) -> int:
    """Zero-shot / few-shot prototype classification; metrics when the data has labels."""

    from transferkit.config import ZeroShotConfig
    from transferkit.zeroshot import zeroshot

    res = zeroshot(config=dataclass_from_args(ZeroShotConfig, args))
    keys = ("test_accuracy", "test_balanced_accuracy", "test_macro_f1", "test_ece", "test_n")
    summary = {"run": res.run_id, "classes": len(res.classes), "shots": res.shots,
               **{k: res.metrics[k] for k in keys if k in res.metrics},
               "predictions": str(res.predictions_file)}
    if _print_summary(summary, f"zeroshot run {res.run_id}", args.json):
        return 0
    if "test_accuracy" not in res.metrics:
        out.print("The data has no labels, so nothing was evaluated; the predictions are in "
                  f"{res.predictions_file}.")
    return 0
