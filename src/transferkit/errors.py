"""Errors that reach the user.

A :class:`UserError` is a problem with what the user asked for (a missing file, an unknown model,
a dataset with one class). The CLI prints its message as one paragraph and exits with code 2,
never a traceback. Anything else is a bug in transferkit and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = 2


class RunPruned(Exception):
    """A run stopped on purpose by the search that started it: its scheduler pruned it (its
    validation score was behind the others' at the same number of epochs), or the search's
    time budget ran out. Not an error: the run is recorded as ``pruned``."""


class RunInterrupted(Exception):
    """Training stopped by SIGINT / SIGTERM after its state was saved; resumable."""

    exit_code = 130


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A ' Did you mean ...?' sentence for an unknown name, or '' if nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
