"""``runs list|show|compare|delete|check`` and ``report``: what the store holds, and reports on
it."""

from __future__ import annotations

import argparse

from transferkit.cli.config_file import stored_config
from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, print_json, table
from transferkit.config import ReportConfig
from transferkit.config.reproduce import stored_run
from transferkit.errors import UserError
from transferkit.timing import ordered

RESUMABLE = ("fit", "pretrain", "adapt")


def cmd_runs(args: argparse.Namespace) -> int:
    from transferkit.store import RunStore

    store = RunStore()
    action = args.action or "list"
    return {"list": _list, "show": _show, "compare": _compare, "delete": _delete, "check": _check}[
        action
    ](args, store)


def _list(args: argparse.Namespace, store) -> int:
    runs = store.list(
        kind=getattr(args, "kind", None),
        status=getattr(args, "status", None),
        limit=getattr(args, "limit", 20),
    )
    if getattr(args, "json", False):
        print_json([r.to_dict() for r in runs])
        return 0
    rows = []
    for r in runs:
        c = r.config
        data = c.get("data", {}).get("data", "") if isinstance(c.get("data"), dict) else ""
        rows.append(
            [
                r.id,
                r.kind,
                r.status,
                r.created[:19],
                c.get("model", ""),
                r.extra.get("strategy_info", {}).get("chosen", c.get("strategy", "")),
                data,
                r.metrics.get("test_accuracy"),
            ]
        )
    table(
        f"runs in {store.root}",
        ["id", "kind", "status", "created", "model", "strategy", "data", "test acc"],
        rows,
        no_wrap=("id",),
    )
    return 0


def _show(args: argparse.Namespace, store) -> int:
    r = store.get(args.run)
    if args.config:
        print(stored_config(r), end="")
        return 0
    if args.json:
        print_json(r.to_dict())
        return 0
    out.print(f"[bold]run {r.id}[/bold]  kind={r.kind}  status={r.status}  seed={r.seed}")
    out.print(f"created {r.created}  updated {r.updated}  owner {r.host} pid {r.pid}")
    out.print(f"data fingerprint {r.data_fingerprint}")
    if r.error:
        out.print(f"error: {r.error}")
    if r.status == "interrupted" and r.kind in RESUMABLE:
        out.print(
            f"resumable: `transferkit {r.kind} --resume {r.id}` continues it from its "
            "last checkpoint"
        )
    scalar = {k: v for k, v in r.metrics.items() if isinstance(v, (int, float))}
    if scalar:
        table("metrics", ["metric", "value"], [[k, v] for k, v in sorted(scalar.items())])
    _time(r)
    out.print("versions: " + ", ".join(f"{k}={v}" for k, v in r.versions.items()))
    skipped = r.extra.get("skipped") or []
    if skipped:
        out.print(
            f"skipped inputs ({len(skipped)}): "
            + "; ".join(f"{s['item']} ({s['reason']})" for s in skipped[:10])
        )
    out.print("config:")
    print_json(r.config)
    _reproduce(r)
    if r.kind == "auto" and r.extra.get("leaderboard"):
        _leaderboard(r)
    if r.kind == "ensemble":
        from transferkit.cli.runs_ensemble import show_members

        show_members(r)
    out.print(f"artifacts: {store.root / 'runs' / r.id}")
    return 0


def _reproduce(r) -> None:
    """The command line that runs ``r`` again (generated from its stored settings), and the
    config file that does the same; or why no command line does."""
    say = lambda text: out.print(text, markup=False, soft_wrap=True)  # noqa: E731 - paths
    try:
        again = stored_run(r.kind, r.config, r.id)
        say(f"reproduce: {again.line()}")
    except UserError as e:
        say(f"reproduce: {e}")
        return
    say(f"as a config file: transferkit runs show {r.id} --config > run.yaml")


def _time(r) -> None:
    """Where the run's time went: seconds and share per stage, and per epoch when trained; for
    a search, how its calls used the budget (also while it is interrupted)."""
    if r.kind == "auto" and r.extra.get("budget_s"):
        from transferkit.report.search_plots import budget_parts, budget_words

        spent = budget_parts(r.extra, r.timings or {}, r.status == "done")
        if spent:
            out.print(f"budget: {budget_words(spent, float(r.extra['budget_s']), r.status)}")
    parts, total = ordered(r.timings), r.timings.get("total")
    if not parts:
        return
    whole = (
        float(total)
        if isinstance(total, (int, float)) and total > 0
        else sum(v for _, v in parts) or 1.0
    )
    out.print(
        f"time: {whole:.1f} s = "
        + ", ".join(f"{k} {v:.1f} s ({100 * v / whole:.0f}%)" for k, v in parts if v > 0)
    )
    epochs = [h for h in r.extra.get("history") or [] if "time_train" in h]
    if epochs:
        out.print(
            "per epoch (train + validate, s): "
            + ", ".join(
                f"{h.get('epoch', i + 1)}: {h['time_train']:.1f} + {h.get('time_validate', 0):.1f}"
                for i, h in enumerate(epochs)
            )
        )


def _leaderboard(r) -> None:
    from transferkit.cli.auto import LEADERBOARD_COLUMNS, leaderboard_rows

    table(
        f"leaderboard of search {r.id} (validation, and out-of-fold on every label for small data)",
        LEADERBOARD_COLUMNS,
        leaderboard_rows(r.extra["leaderboard"][:25]),
        no_wrap=("run", "model"),
    )
    if r.extra.get("why"):
        out.print(f"chosen: {r.extra['why']}")


def _compare(args: argparse.Namespace, store) -> int:
    from transferkit.runs.paired import compare_runs

    res = compare_runs(args.run_a, args.run_b, store)
    if args.json:
        print_json(res)
        return 0
    table(
        f"{res['a']} (a) vs {res['b']} (b)",
        ["metric", "a", "b", "a - b"],
        [[k, v["a"], v["b"], v.get("a_minus_b")] for k, v in res["metrics"].items()],
    )
    p = res["paired"]
    if p:
        out.print(
            f"paired on {p['n']} shared test examples: accuracy a - b = "
            f"{100 * p['accuracy_diff']:+.1f} points (95% bootstrap CI "
            f"{100 * p['ci_low']:.1f} to {100 * p['ci_high']:.1f}); McNemar p = "
            f"{p['p_value']:.3g} ({p['only_a_correct']} only a right, "
            f"{p['only_b_correct']} only b right)"
        )
    else:
        out.print(res["note"])
    return 0


def _delete(args: argparse.Namespace, store) -> int:
    r = store.get(args.run)
    store.delete(r.id)
    out.print(f"deleted run {r.id}")
    return 0


def _check(args: argparse.Namespace, store) -> int:
    """Exit 0 when nothing is left to repair, 1 when problems remain (found without --repair,
    or beyond repair such as a damaged database): a finding, not a user error (that is 2)."""
    from transferkit.store.check import check_store

    report = check_store(store, repair=args.repair)
    if args.json:
        print_json(report.to_dict())
        return 0 if report.clean else 1
    say = lambda text: out.print(text, markup=False, soft_wrap=True)  # noqa: E731 - paths
    say(f"checked {store.root}: {report.runs} runs, database integrity {report.integrity}")
    for p in report.problems:
        action = "repaired" if p.repaired else ("not repaired" if args.repair else "would repair")
        say(f"- {p.kind}: {p.detail}\n    {action}: {p.repair}")
    left = report.remaining
    if not report.problems:
        say("the store is clean")
    elif not left:
        say(f"repaired {len(report.problems)} problem(s); the store is clean")
    elif args.repair:
        say(f"{len(left)} problem(s) could not be repaired (see above)")
    else:
        say(f"{len(left)} problem(s) found; `transferkit runs check --repair` repairs them")
    return 0 if report.clean else 1


def cmd_report(args: argparse.Namespace) -> int:
    """Write an HTML report and its Markdown twin for runs or comparisons; print the HTML path."""
    from pathlib import Path

    from transferkit import progress
    from transferkit.report import build_report, default_out_dir, latest_fits, load_records
    from transferkit.store import RunStore

    cfg = settings_from_args(ReportConfig, args)
    store = RunStore()
    records = load_records(cfg.runs, store) if cfg.runs else []
    if cfg.last is not None:
        seen = {r.id for r in records}
        records += [r for r in latest_fits(cfg.last, store) if r.id not in seen]
    if not records:
        raise UserError(
            "Name the runs to report on (`transferkit report RUN [RUN ...]`; fit, "
            "compare or cv run ids) or use --last N. `transferkit runs list` shows them."
        )
    out_dir = Path(cfg.out) if cfg.out else default_out_dir(records, store)
    html_path, md_path = build_report(records, out_dir, title=cfg.title)
    progress.info(f"report written: {html_path} (Markdown twin: {md_path})")
    print(html_path)
    return 0
