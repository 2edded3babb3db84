"""Kill real ``transferkit`` processes at seeded random moments and judge what they leave.

Shared by the tests in this folder and ``benchmarks/faults.py``, so both kill and judge the
same way (the judging, without transferkit's own ``runs check``, is in ``faultcheck.py``).

A :class:`Workflow` is one command line (fit, pretrain, adapt, compare) with small settings. Its
uninterrupted run in a fresh store is the reference (:func:`reference`), which also measures how
long the process lives after its run folder appears: kills are drawn uniformly from that
window (:func:`kill_at_random`), so they land in training, in evaluation and in the writes at
the end on a fast machine and a slow one alike. :func:`continue_run` resumes what a kill left
(``--resume RUN``; compare: the same command again), and ``faultcheck.verify`` says what is
wrong with the store after each kill.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from faultcheck import records, temp_files, verify

RUN_ID = re.compile(r"r\d{8}-\d{6}-[0-9a-f]{4}")
VOLATILE = {
    "run",
    "seconds",
    "total",
    "reused",
    "time_train",
    "time_validate",
}  # differ between two runs with equal results
TINY = ["--model", "tiny-cnn", "--image-size", "8"]


@dataclass
class Workflow:
    """One command with small settings; ``kind`` is the record kind of its top-level run."""

    name: str
    args: list[str]
    kind: str
    resumable: bool = True  # has --resume; compare is run again instead
    compare_extra: tuple[str, ...] = ()  # record extras that must match the reference


def workflows(data_dir: Path, epochs: int = 3) -> dict[str, Workflow]:
    """fit, pretrain, adapt and compare on tiny models and data (adapt: ``write_domains``)."""
    from adapt_data import write_domains

    src, tgt = write_domains(Path(data_dir))
    e = ["--epochs", str(epochs)]
    return {
        w.name: w
        for w in (
            Workflow(
                "fit",
                [
                    "fit",
                    "--data",
                    "builtin:digits",
                    "--strategy",
                    "finetune",
                    "--model",
                    "tiny-cnn",
                    "--image-size",
                    "8",
                    "--epochs",
                    str(epochs + 1),
                    "--labels-per-class",
                    "20",
                    "--seed",
                    "1",
                    "--json",
                ],
                "fit",
                compare_extra=("history",),
            ),
            Workflow(
                "pretrain",
                [
                    "pretrain",
                    "--data",
                    "builtin:digits",
                    "--method",
                    "autoencoder",
                    "--arch",
                    "tiny-cnn",
                    "--image-size",
                    "8",
                    *e,
                    "--max-examples",
                    "600",
                    "--seed",
                    "0",
                    "--json",
                ],
                "pretrain",
                compare_extra=("history", "best_epoch"),
            ),
            Workflow(
                "adapt",
                [
                    "adapt",
                    "--source",
                    src,
                    "--target",
                    tgt,
                    *TINY,
                    "--method",
                    "source-only,dann",
                    "--batch-size",
                    "8",
                    "--epochs",
                    "2",
                    "--hidden",
                    "16",
                    "--embed-points",
                    "0",
                    "--selection-examples",
                    "24",
                    "--json",
                ],
                "adapt",
                compare_extra=("table", "members", "selection"),
            ),
            Workflow(
                "compare",
                [
                    "compare",
                    "--data",
                    "builtin:digits",
                    *TINY,
                    "--strategies",
                    "linear,finetune",
                    "--labels-per-class",
                    "10",
                    "--seeds",
                    "2",
                    "--epochs",
                    "2",
                    "--json",
                ],
                "compare",
                resumable=False,
                compare_extra=("table", "members", "paired", "verdicts"),
            ),
        )
    }


def child_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TRANSFERKIT_HOME": str(home),
        "TRANSFERKIT_QUIET": "1",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }


def start(args: list[str], home: Path, **popen: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "transferkit", *args],
        env=child_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run(args: list[str], home: Path, timeout: float = 300, **popen: Any):
    """Run to the end; returns (returncode, stdout, stderr)."""
    proc = start(args, home, **popen)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _run_folders(home: Path) -> set[str]:
    runs = home / "runs"
    return {p.name for p in runs.iterdir()} if runs.is_dir() else set()


def _wait_for_new_folder(
    proc: subprocess.Popen, home: Path, before: set[str], timeout: float
) -> float | None:
    """The moment a new run folder appears (None if the process ended first)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if _run_folders(home) - before:
            return time.monotonic()
        time.sleep(0.005)
    return None


def _top_done(home: Path, kind: str) -> bool:
    """Whether a top-level run of ``kind`` is ``done`` (read-only peek while it runs)."""
    db = home / "store.db"
    if not db.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM runs WHERE kind = ? AND parent IS NULL AND status = 'done'",
                    (kind,),
                ).fetchone()
                is not None
            )
    except sqlite3.Error:
        return False


@dataclass
class Reference:
    """An uninterrupted run: its result, and its timeline: start-up (process start to run
    folder) and the window from the run folder to the record's ``done`` (kills are drawn from
    it, plus a short tail after ``done``)."""

    outcome: dict[str, Any]
    startup_s: float
    window_s: float
    wall_s: float


TAIL_S = 0.2  # kills this long after ``done`` hit the end of a finished run


def reference(wf: Workflow, home: Path, timeout: float = 300) -> Reference:
    t0 = time.monotonic()
    proc = start(wf.args, home)
    seen = _wait_for_new_folder(proc, home, set(), timeout) or time.monotonic()
    while proc.poll() is None and not _top_done(home, wf.kind):
        time.sleep(0.005)
    done = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (wf.name, proc.returncode, err[-3000:])
    return Reference(outcome(home, wf), seen - t0, done - seen + TAIL_S, time.monotonic() - t0)


def kill_at_random(
    args: list[str], home: Path, ref: Reference, rng: np.random.Generator, timeout: float = 300
) -> dict[str, Any]:
    """Start ``args`` and SIGKILL it ``U(0, window)`` seconds after its run folder appears (a
    resumed run's folder exists already: then after the reference's start-up time), and reap
    it. A process that finished first must have succeeded."""
    delay = float(rng.uniform(0.0, ref.window_s))
    before = _run_folders(home)
    proc = start(args, home)
    t_start = time.monotonic()
    if "--resume" in args:
        seen: float | None = t_start + ref.startup_s
    else:
        seen = _wait_for_new_folder(proc, home, before, timeout)
    killed = False
    if seen is not None:
        while proc.poll() is None and time.monotonic() < seen + delay:
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed = True
    out, err = proc.communicate(timeout=timeout)
    if not killed:
        assert proc.returncode == 0, (args, proc.returncode, err[-3000:])
    return {
        "args": args,
        "delay_s": round(delay, 3),
        "killed": killed,
        "returncode": proc.returncode,
        "after_start_s": round(time.monotonic() - t_start, 3),
    }


def next_args(wf: Workflow, home: Path) -> list[str] | None:
    """What continues ``wf`` in ``home``: ``--resume RUN`` for its newest unfinished run, the
    command again (compare; or nothing was recorded yet), or None when it is done."""
    tops = [r for r in records(home) if r.kind == wf.kind and r.parent is None]
    if tops and tops[0].status == "done":
        return None
    if wf.resumable and tops:
        return [wf.name, "--resume", tops[0].id, "--json"]
    return wf.args


def continue_run(wf: Workflow, home: Path, timeout: float = 300) -> bool:
    """Run what continues ``wf`` to the end; returns whether anything had to be resumed."""
    args = next_args(wf, home)
    if args is None:
        return False
    code, _, err = run(args, home, timeout)
    assert code == 0, (args, code, err[-3000:])
    return True


def phase(wf: Workflow, home: Path) -> str:
    """Where a kill left ``wf``: not recorded yet, before any checkpoint, with a checkpoint on
    disk (training or after), or finished."""
    tops = [r for r in records(home) if r.kind == wf.kind and r.parent is None]
    if not tops:
        return "before its record"
    if tops[0].status == "done":
        return "after it finished"
    if any((home / "runs").glob("*/checkpoints/last.safetensors")):
        return "with a checkpoint on disk"
    return "before the first checkpoint"


def kill_chain(
    wf: Workflow, ref: Reference, home: Path, rng: np.random.Generator, kills: int = 1
) -> dict[str, Any]:
    """Up to ``kills`` random SIGKILLs, each on what continues the run (the command, then its
    ``--resume``), the store judged after each; then the run continued to the end and its
    result compared with the reference."""
    attempts = []
    for _ in range(kills):
        args = next_args(wf, home)
        if args is None:
            break
        k = kill_at_random(args, home, ref, rng)
        k.update(phase=phase(wf, home), temp_files=temp_files(home), verify=verify(home))
        attempts.append(k)
    resumed = continue_run(wf, home)
    final = verify(home)
    got = outcome(home, wf)
    return {
        "workflow": wf.name,
        "attempts": attempts,
        "resumed": resumed,
        "final": final,
        "identical": got == ref.outcome,
        "outcome": got,
    }


def _normalised(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _normalised(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_normalised(v) for v in obj]
    if isinstance(obj, str):
        return RUN_ID.sub("RUN", obj)
    return obj


def outcome(home: Path, wf: Workflow) -> dict[str, Any]:
    """The newest finished top-level run of ``wf``: metrics and the extras that must not depend
    on whether the run was interrupted, with run ids and timings left out."""
    done = [
        r for r in records(home) if r.kind == wf.kind and r.parent is None and r.status == "done"
    ]
    assert done, f"no finished {wf.kind} run in {home}"
    rec = done[0]
    return _normalised({"metrics": rec.metrics, **{k: rec.extra.get(k) for k in wf.compare_extra}})
