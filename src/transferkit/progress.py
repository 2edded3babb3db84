"""Progress bars for long work (rich), silenced by ``--quiet`` or off rank zero.

``quiet()`` reads the TRANSFERKIT_QUIET environment variable, which the CLI's ``--quiet`` sets,
so readers, extraction and training agree without passing a flag through every call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

console = Console(stderr=True)


def quiet() -> bool:
    if os.environ.get("TRANSFERKIT_QUIET", "") not in ("", "0"):
        return True
    from transferkit import distributed  # imports torch: only when it matters

    return not distributed.is_main()


def info(message: str) -> None:
    """A status line on stderr (stdout stays clean for tables and CSV)."""
    if not quiet():
        console.print(message, highlight=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=quiet() or not console.is_terminal,
    )


@contextmanager
def bar(description: str, total: int | None):
    """A progress bar; yields ``update(advance=1, status=None)``: ``status`` replaces the text
    beside the bar, None keeps it (the training loop refreshes its loss only now and then)."""
    with _progress() as p:
        task = p.add_task(description, total=total, status="")

        def update(advance: int = 1, status: str | None = None) -> None:
            if status is None:
                p.update(task, advance=advance)
            else:
                p.update(task, advance=advance, status=status)

        yield update


def track(items: Iterable[T], description: str) -> Iterator[T]:
    """``items`` with a progress bar (its length the total, when it has one)."""
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    with bar(description, total) as update:
        for item in items:
            yield item
            update()
