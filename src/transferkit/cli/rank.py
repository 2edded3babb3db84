"""``rank`` and ``similarity``: scores and distances as tables (or JSON)."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import fmt, out, print_json, table
from transferkit.config import RankConfig, SimilarityConfig


def cmd_rank(args: argparse.Namespace) -> int:
    """Rank candidates; a table with why each empty cell is empty, or JSON."""
    from transferkit.runs.rank import rank

    cfg = settings_from_args(RankConfig, args, families=("score",))
    result = rank(cfg.data, cfg.models, config=cfg)
    if args.json:
        print_json(result.to_dict())
        return 0
    rows = []
    for r in result.rows:
        pos = str(result.order.index(r.model) + 1) if r.model in result.order else "-"
        notes: dict[str, list[str]] = {}
        for name, why in r.empty.items():
            notes.setdefault(why, []).append(name)
        note = r.reason or "; ".join(f"{', '.join(n)}: {why}" for why, n in notes.items())
        rows.append(
            [
                pos,
                r.model,
                r.status,
                *(r.scores.get(s) for s in result.scores),
                f"{r.seconds:.1f}",
                note,
            ]
        )
    table(
        f"rank {result.run_id}: {result.data}, {result.n_examples} examples, "
        f"{result.num_classes} classes, by {result.primary}",
        ["#", "model", "status", *result.scores, "seconds", "note"],
        rows,
        no_wrap=("#", "model"),
    )
    if result.best:
        out.print(f"best by {result.primary}: {result.best}")
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    """Source-target distances as a table (per-class MMD below), or JSON."""
    from transferkit.runs.similarity import similarity

    cfg = settings_from_args(SimilarityConfig, args)
    r = similarity(cfg.source, cfg.target, cfg.model, config=cfg)
    if args.json:
        print_json(r.to_dict())
        return 0
    out.print(
        f"similarity {r.run_id}: {r.source} vs {r.target} in {r.model} features "
        f"({r.n_source} + {r.n_target} examples)"
    )
    table(
        None,
        ["measure", "value"],
        [
            [k, getattr(r, k)]
            for k in ("mmd2", "p_value", "bandwidth", "proxy_a_distance", "domain_error")
        ],
    )
    if r.class_mmd:
        table(
            "MMD^2 per shared class",
            ["class", "mmd2"],
            [
                [name, fmt(v) if v is not None else "(too few examples)"]
                for name, v in r.class_mmd.items()
            ],
        )
    return 0
