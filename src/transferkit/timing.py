"""Where a run's time goes: named stages (load, probe, extract, train, validate, checkpoint,
test, store, ...) summed per run.

A workflow opens :func:`collect` once; code at any depth wraps its work in ``with
stage("train"):`` and the seconds land in the innermost collector of the current context (no
collector: nothing is recorded, the cost is two clock reads). Stages are exclusive: the time of
a stage nested in another is counted once, in the inner one, so the seconds of a run add up to
its wall time (the rest is reported as ``other``) and make one stacked bar.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Stages:
    """Seconds per stage, in the order the stages first ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()
        self._stack: list[list] = []  # [name, start, seconds spent in nested stages]

    def enter(self, name: str) -> None:
        self._stack.append([name, time.perf_counter(), 0.0])

    def exit(self) -> None:
        name, start, nested = self._stack.pop()
        elapsed = time.perf_counter() - start
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - nested
        if self._stack:
            self._stack[-1][2] += elapsed

    def timings(self) -> dict[str, float]:
        """The stages, ``other`` (time outside every stage) and ``total`` since the start."""
        total = time.perf_counter() - self.started
        out = {k: round(v, 4) for k, v in self.seconds.items()}
        out["other"] = round(max(total - sum(self.seconds.values()), 0.0), 4)
        out["total"] = round(total, 4)
        return out


_CURRENT: ContextVar[Stages | None] = ContextVar("transferkit_stages", default=None)


@contextmanager
def collect() -> Iterator[Stages]:
    """Collect the stages of the work inside (a nested collector hides them from this one)."""
    stages = Stages()
    token = _CURRENT.set(stages)
    try:
        yield stages
    finally:
        _CURRENT.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the time inside as ``name`` in the current collector, if any."""
    stages = _CURRENT.get()
    if stages is None:
        yield
        return
    stages.enter(name)
    try:
        yield
    finally:
        stages.exit()


def current() -> Stages | None:
    return _CURRENT.get()


def untimed(history: list[dict]) -> list[dict]:
    """``history`` without its seconds (``time_*`` keys): what two runs with the same seed and
    data must have equal, where the clock cannot."""
    return [{k: v for k, v in h.items() if not k.startswith("time_")} for h in history]


# The stages a run reports, in the order a stacked bar shows them; unknown names follow.
ORDER = (
    "load",
    "extract",
    "batchnorm",
    "probe",
    "train",
    "validate",
    "checkpoint",
    "test",
    "store",
    "other",
)


def ordered(timings: dict[str, float]) -> list[tuple[str, float]]:
    """The stage seconds of ``timings`` (``total`` left out) in :data:`ORDER`."""
    parts = [
        (k, float(v)) for k, v in timings.items() if k != "total" and isinstance(v, (int, float))
    ]
    rank = {k: i for i, k in enumerate(ORDER)}

    def key(kv: tuple[str, float]) -> tuple[float, int, str]:
        # a resumed search's earlier calls ("before interruption N") come first, in order
        if kv[0].startswith("before interruption "):
            return (-1.0, int(kv[0].rsplit(" ", 1)[1]), kv[0])
        return (rank.get(kv[0], rank["other"] - 0.5), 0, kv[0])

    return sorted(parts, key=key)
