"""The time budget of an automatic search: parsing ``15m`` / ``1h30m`` / ``90s``, and the clock
that says how much is left and where the time went, stage by stage."""

from __future__ import annotations

import math
import re
import time
from contextlib import contextmanager

from transferkit.errors import UserError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")


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


class Clock:
    """Wall time against a budget. ``spent`` is time used before (by an earlier attempt of a
    resumed search); ``stages`` the seconds each stage took."""

    def __init__(self, budget_s: float, spent: float = 0.0) -> None:
        self.budget_s, self.start, self.spent = float(budget_s), time.monotonic(), float(spent)
        self.stages: dict[str, float] = {}

    def elapsed(self) -> float:
        return self.spent + time.monotonic() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    @contextmanager
    def stage(self, name: str):
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.monotonic() - t0
