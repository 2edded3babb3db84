"""``auto``: the search's leaderboard, the choice and why, and the winner's test metrics."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, print_json, table
from transferkit.config import AutoConfig

LEADERBOARD_COLUMNS = [
    *("kind", "trial", "model", "strategy", "size", "state", "val", "oof/cv", "weight", "s"),
    "run",
]


def cmd_auto(args: argparse.Namespace) -> int:
    from transferkit import distributed
    from transferkit.runs.auto import auto

    res = (
        auto(resume=args.resume)
        if args.resume
        else auto(config=settings_from_args(AutoConfig, args))
    )
    if not distributed.is_main():
        return 0
    if args.json:
        print_json(
            {
                "run": res.run_id,
                "chosen": res.chosen,
                "why": res.why,
                "metrics": res.metrics,
                "leaderboard": res.leaderboard,
                "ranking": res.ranking,
                "winner_run": res.chosen.get("run"),
            }
        )
        return 0
    rows = leaderboard_rows(res.leaderboard[:20])
    table(
        f"auto {res.run_id}: leaderboard (validation, and out-of-fold (oof) on every label "
        "for small data; the test split is read once, below)",
        LEADERBOARD_COLUMNS,
        rows,
        no_wrap=("run", "model"),
    )
    out.print(f"chosen: {res.why}")
    if res.metrics:
        out.print(
            f"test accuracy {res.metrics.get('test_accuracy', float('nan')):.4f}, "
            f"macro F1 {res.metrics.get('test_macro_f1', float('nan')):.4f} on "
            f"{res.metrics.get('test_n')} test examples; predict with `transferkit "
            f"predict --run {res.chosen.get('run')} INPUTS`; report with `transferkit "
            f"report {res.run_id}`."
        )
    return 0


def leaderboard_rows(board: list[dict]) -> list[list]:
    """A search's leaderboard rows as its tables show them (``auto`` and ``runs show``)."""
    return [
        [
            r.get("kind"),
            r.get("trial", ""),
            r.get("model"),
            r.get("strategy"),
            r.get("image_size"),
            r.get("state"),
            r.get("val"),
            r.get("oof", r.get("cv")),
            r.get("weight", ""),
            f"{r['seconds']:.0f}" if r.get("seconds") is not None else "",
            r.get("run"),
        ]
        for r in board
    ]
