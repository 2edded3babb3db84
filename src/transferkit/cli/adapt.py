"""``adapt``: the candidates' table (label-free risk; target accuracy when allowed)."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, print_json, table
from transferkit.config import AdaptConfig


def cmd_adapt(args: argparse.Namespace) -> int:
    from transferkit import distributed
    from transferkit.runs.adapt import adapt

    res = (
        adapt(resume=args.resume)
        if args.resume
        else adapt(config=settings_from_args(AdaptConfig, args, families=("adaptation",)))
    )
    if not distributed.is_main():  # under torchrun, rank 0 alone prints
        return 0
    if args.json:
        print_json(
            {
                "run": res.run_id,
                "chosen": res.chosen,
                "oracle": res.oracle,
                "rule": res.rule,
                "metrics": res.metrics,
                "table": res.table,
            }
        )
        return 0
    _candidates(res)
    _notes(res)
    return 0


def _candidates(res) -> None:
    """One row per candidate: its label-free risk, source accuracy and domain distance (and
    its target accuracy when target labels were given for the report); the choice marked."""
    evaluated = any(r.get("target_accuracy") is not None for r in res.table)
    columns = ["candidate", "seeds", f"{res.rule} risk", "source val acc", "proxy A-dist"]
    rows = []
    for r in res.table:
        mark = (" *" if r["candidate"] == res.chosen else "") + (
            " (oracle)" if r["candidate"] == res.oracle else ""
        )
        rows.append(
            [
                r["candidate"] + mark,
                r["n"],
                r["selection_score"],
                r.get("source_val_accuracy"),
                r.get("pad"),
            ]
            + ([r.get("target_accuracy")] if evaluated else [])
        )
    table(
        f"adapt {res.run_id}: chosen by {res.rule} (label-free)",
        columns + (["target acc (report only)"] if evaluated else []),
        rows,
        no_wrap=("candidate",),
    )


def _notes(res) -> None:
    """What was chosen and how to use it; the rule actually used and the oracle's gap."""
    asked, used = res.metrics.get("selection_rule_asked"), res.metrics.get("selection_rule")
    if used != asked:
        out.print(
            f"note: {asked} was not usable: compared every candidate on {used} (see "
            f"`transferkit report {res.run_id}`)."
        )
    out.print(
        f"chosen without target labels: {res.chosen} (*); predict with "
        f"`transferkit predict --run {res.run_id} INPUTS`; report with "
        f"`transferkit report {res.run_id}`."
    )
    if res.oracle is not None:
        out.print(
            f"oracle (target labels) would pick {res.oracle}: gap "
            f"{100 * res.metrics.get('selection_gap', 0.0):.1f} points."
        )
