"""What the commands print: rich tables on stdout, JSON, CSV; status lines go to stderr."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False)
if not out.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    out = Console(highlight=False, width=160)


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def write_csv(rows: list[dict[str, Any]], stream=None) -> None:
    stream = stream or sys.stdout
    if not rows:
        return
    w = csv.DictWriter(stream, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)


def table(
    title: str | None, columns: list[str], rows: list[list[Any]], no_wrap: tuple[str, ...] = ()
) -> None:
    """Print a table with these columns and rows (cells formatted with :func:`fmt`)."""
    t = Table(title=title)
    for c in columns:
        t.add_column(c, no_wrap=c in no_wrap)
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    out.print(t)


def summary(values: dict[str, Any], title: str, as_json: bool) -> bool:
    """Print ``values`` as JSON or as a two-column table; True when JSON was printed."""
    if as_json:
        print_json(values)
        return True
    table(title, ["", "value"], [[k, v] for k, v in values.items()])
    return False
