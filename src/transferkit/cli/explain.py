"""``transferkit explain``: the explained inputs as a table, the reading of what transferred,
and where the overlays, the CSV and the token page were written."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, print_json, table
from transferkit.config import ExplainConfig


def cmd_explain(args: argparse.Namespace) -> int:
    from transferkit.runs.explain import explain

    res = explain(config=settings_from_args(ExplainConfig, args))
    if args.json:
        print_json(
            {
                "run": res.run_id,
                "explained": res.explained,
                "method": res.method,
                "rows": res.rows,
                "transfer": res.transfer,
                "artifact_dir": str(res.artifact_dir),
            }
        )
        return 0
    if res.rows:
        labelled = any("true" in r for r in res.rows)
        rows = [
            [r["file"], r["predicted"], f"{100 * r['confidence']:.1f}%"]
            + ([r.get("true", "")] if labelled else [])
            + [r["explained"]]
            for r in res.rows[:30]
        ]
        more = f" (first 30 of {len(res.rows)})" if len(res.rows) > 30 else ""
        table(
            f"explain {res.run_id}: {res.method} on run {res.explained}{more}",
            ["file", "predicted", "confidence"]
            + (["true"] if labelled else [])
            + ["explained class"],
            rows,
            no_wrap=("confidence",),
        )
    t = res.transfer or {}
    if t.get("reading"):
        out.print(f"what transferred from {t.get('source')}: {t['reading']}")
    for note in t.get("notes", []):
        out.print(f"note: {note}")
    files = (
        "overlays/, "
        if any("overlay" in r for r in res.rows)
        else ("tokens.html, " if res.rows else "")
    )
    out.print(
        f"written to {res.artifact_dir}: {files}predictions.csv, attributions.npz, "
        f"transfer.json; report with `transferkit report {res.run_id}`."
    )
    return 0
