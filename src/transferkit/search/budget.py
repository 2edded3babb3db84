"""The time budget of an automatic search: parsing ``15m`` / ``1h30m`` / ``90s``, and the clock
that says how much is left and where the time went, stage by stage.

The budget is the total over every call of one search: a search killed and resumed with
``--resume`` gets the budget less what each earlier call spent (the wall time from its start to
its interruption; the time between calls does not count). The clock's :meth:`Clock.account` is
what the search keeps in its record, every :func:`save_every` seconds and at each stage, so the
next call reads it back with :func:`calls_before` - also after a SIGKILL, losing at most one
interval.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from transferkit.errors import UserError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")
BEFORE = "before interruption"  # the timings key of an earlier call: "before interruption 1"


def parse_budget(text: str | float | int) -> float:
    """Seconds in ``text``: ``90s``, ``15m``, ``1h30m``, ``1.5h``, or a plain number of
    seconds; a budget that is not a positive, finite duration is a :class:`UserError`."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        try:
            seconds = float(s)
        except ValueError:
            parts = _PART.findall(s)
            if not parts or "".join(f"{n}{u}" for n, u in parts) != s:
                raise UserError(
                    f"--budget {text!r} is not a duration; write e.g. 90s, 15m, 1h or 1h30m."
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise UserError(
            f"--budget must be a positive, finite duration, not {text!r}; write e.g. 90s, "
            "15m, 1h or 1h30m."
        )
    return seconds


def save_every(budget_s: float) -> float:
    """Seconds between two saves of the account: a sixtieth of the budget, between 1 and 10 s,
    so a kill loses under 2% of a budget of a minute or more (and at most 1 s below that)."""
    return min(10.0, max(1.0, budget_s / 60.0))


def calls_before(saved: Mapping[str, Any]) -> list[float]:
    """The seconds each earlier call of a search spent, from what it saved in its record
    (``saved``: the record's extra): the calls an earlier call knew of, then its own time. A
    record from before the account was kept has only the total ``elapsed`` (one call)."""
    account = saved.get("budget_account")
    if isinstance(account, Mapping):
        before = [float(s) for s in account.get("before") or []]
        return before + [float(account.get("this_call") or 0.0)]
    elapsed = float(saved.get("elapsed") or 0.0)
    return [elapsed] if elapsed > 0 else []


class Clock:
    """Wall time against a budget. ``before`` holds the seconds each earlier call of a resumed
    search spent (oldest first); ``stages`` the seconds each stage of this call took."""

    def __init__(self, budget_s: float, before: Sequence[float] = ()) -> None:
        self.budget_s, self.start = float(budget_s), time.monotonic()
        self.before = [float(s) for s in before]
        self.spent = sum(self.before)
        self.stages: dict[str, float] = {}

    def this_call(self) -> float:
        """Seconds since this call started."""
        return time.monotonic() - self.start

    def elapsed(self) -> float:
        """Seconds spent by every call of the search, this one included."""
        return self.spent + self.this_call()

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def account(self) -> dict[str, Any]:
        """What the record keeps (read back by :func:`calls_before` on resume)."""
        return {"budget_s": self.budget_s, "before": self.before, "this_call": self.this_call()}

    def timings(self) -> dict[str, float]:
        """Where the whole budget went: each earlier call (``before interruption N``), this
        call's stages and ``other`` (its time outside them), and the ``total`` of all calls."""
        now = self.this_call()
        out = {f"{BEFORE} {i}": s for i, s in enumerate(self.before, 1)}
        out.update(self.stages)
        out["other"] = max(0.0, now - sum(self.stages.values()))
        out["total"] = self.spent + now
        return out

    def summary(self) -> str:
        """The account in words, e.g. ``180 s budget: 100 s before interruption 1, 75 s in
        this call``."""
        parts = [f"{s:.0f} s {BEFORE} {i}" for i, s in enumerate(self.before, 1)]
        return (
            f"{self.budget_s:.0f} s budget: "
            + ", ".join([*parts, f"{self.this_call():.0f} s in this call"])
            + f"; {max(0.0, self.left()):.0f} s left"
        )

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.monotonic() - t0
