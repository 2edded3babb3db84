"""``transferkit zoo``: the source models and whether they work offline now."""

from __future__ import annotations

import argparse

from transferkit.cli.output import print_json, table


def cmd_zoo(args: argparse.Namespace) -> int:
    from transferkit.zoo import list_zoo

    rows = list_zoo(args.pattern)
    if args.json:
        print_json(rows)
        return 0
    table(
        "transferkit zoo",
        ["name", "modality", "params", "features", "input", "offline", "note"],
        [
            [
                r["name"],
                r["modality"],
                f"{r['params'] / 1e6:.2f}M" if r.get("params") else "?",
                r.get("features"),
                r.get("input_size"),
                "yes" if r.get("offline") else "no",
                r.get("note", ""),
            ]
            for r in rows
        ],
        no_wrap=("name",),
    )
    return 0
