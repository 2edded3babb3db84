"""``transferkit runs check``: is the run store whole, and what would put it right?

A store can be left untidy by things no transaction protects against: a process killed with
SIGKILL (its run stays ``running``, a temporary file stays beside its target), a crash inside
``RunStore.create`` (an artifact folder whose record was never committed) or ``delete`` (a
``.deleting-*`` folder), a folder removed by hand, a damaged disk. :func:`check_store` looks for
each of these without changing anything; with ``repair=True`` it also fixes what can be fixed:

======================  ==========================================================  ======================================
problem                 found when                                                  repair
======================  ==========================================================  ======================================
``integrity``           ``PRAGMA integrity_check`` is not ``ok``                     none (restore a backup or ``.recover``)
``stale-running``       a ``running`` run whose owner process is gone                mark it ``interrupted`` (resumable)
``missing-folder``      a record (not ``failed``) whose ``runs/<id>`` is missing     mark it ``failed``, saying why
``deleting-leftover``   a ``runs/.deleting-<id>-*`` folder                           remove it, or put it back if the
                                                                                     record still exists
``orphan-folder``       a folder under ``runs/`` that no record names                remove it
``temp-file``           a hidden ``.NAME.*.tmp`` left by an interrupted write       remove it
======================  ==========================================================  ======================================

Runs still ``running`` under a live process are left alone, and so are folders and temporary
files changed in the last :data:`GRACE_S` seconds (another command may be writing them now).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transferkit.store import db
from transferkit.store.owner import owner_gone

#: Files and folders younger than this are assumed to be in use by another process.
GRACE_S = 60.0
DELETING = ".deleting-"


@dataclass
class Problem:
    """One thing wrong with the store, and what ``--repair`` does (or did) about it."""

    kind: str
    target: str  # a run id or a path
    detail: str
    repair: str
    repaired: bool = False


@dataclass
class CheckReport:
    """What :func:`check_store` found: the database's integrity, the runs seen, the problems."""

    root: str
    integrity: str
    runs: int
    problems: list[Problem] = field(default_factory=list)
    repair: bool = False

    @property
    def remaining(self) -> list[Problem]:
        return [p for p in self.problems if not p.repaired]

    @property
    def clean(self) -> bool:
        """Nothing is left to repair (there was nothing wrong, or everything was repaired)."""
        return not self.remaining

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.root,
            "integrity": self.integrity,
            "runs": self.runs,
            "repair": self.repair,
            "clean": self.clean,
            "problems": [asdict(p) for p in self.problems],
        }


def check_store(store, repair: bool = False, grace_s: float = GRACE_S) -> CheckReport:
    """Check ``store`` (a :class:`~transferkit.store.RunStore`); with ``repair``, fix what can be
    fixed. Without ``repair`` nothing in the store is changed."""
    integrity = _integrity(store.db_path)
    folders = _folders(store.runs_dir)  # listed before the records: see _leftovers
    try:
        with closing(db.connect(store.db_path)) as conn:
            rows: dict[str, dict] | None = {r["id"]: r for r in db.select(conn, {})}
    except sqlite3.DatabaseError as e:  # too damaged to read: judge no folder by the records
        rows, integrity = None, f"{integrity}; the runs table cannot be read ({e})"
    report = CheckReport(str(store.root), integrity, len(rows or {}), repair=repair)
    if integrity != "ok":
        report.problems.append(
            Problem(
                "integrity",
                str(store.db_path),
                f"SQLite integrity_check: {integrity}",
                "none automatic: copy the store aside, then restore a backup of store.db or "
                f"rebuild it with `sqlite3 {store.db_path} .recover`",
            )
        )
    if rows is None:
        return report
    live = {i for i, r in rows.items() if r["status"] == "running" and owner_gone(r) is None}
    cutoff = time.time() - grace_s
    found = [
        *_runs(store, rows, live),
        *_leftovers(store, folders, rows, cutoff),
        *_temp_files(store.root, store.runs_dir, set(rows) - live, cutoff),
    ]
    for problem, fix in found:
        report.problems.append(problem)
        if repair and fix is not None:
            fix()
            problem.repaired = True
    return report


def _integrity(path: Path) -> str:
    try:
        with closing(db.connect(path)) as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as e:
        return f"the check itself failed: {e}"
    return "ok" if rows == ["ok"] else "; ".join(rows[:5]) + (" ..." if len(rows) > 5 else "")


def _folders(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []


def _runs(store, rows: dict[str, dict], live: set[str]):
    """Records left ``running`` by a dead process, and records whose folder is gone."""
    for run_id, row in rows.items():
        if run_id in live:
            continue
        why = owner_gone(row) if row["status"] == "running" else None
        if why is not None:
            yield (
                Problem(
                    "stale-running",
                    run_id,
                    f"run {run_id} is still marked running, but {why}",
                    "mark it interrupted (resume it with `--resume`)",
                ),
                lambda i=run_id, w=why: store.mark_stale(i, w),
            )
        folder = store.runs_dir / run_id
        if row["status"] != "failed" and not folder.is_dir() and not _being_deleted(store, run_id):
            error = (
                f"its artifact folder {folder} is missing (found by `transferkit runs "
                "check`): its models and checkpoints are gone"
            )
            yield (
                Problem(
                    "missing-folder",
                    run_id,
                    f"run {run_id} ({row['status']}) has no artifact folder {folder}",
                    "mark it failed with that error",
                ),
                lambda i=run_id, e=error: store.update(i, status="failed", error=e),
            )


def _being_deleted(store, run_id: str) -> bool:
    return any(store.runs_dir.glob(f"{DELETING}{run_id}-*"))


def _leftovers(store, folders: list[Path], rows: dict[str, dict], cutoff: float):
    """Folders under ``runs/`` that no record names, and folders a delete left behind. A
    folder is listed before the records are read, so a run created meanwhile is not taken
    for an orphan; a recent empty folder may be a run being created now and is skipped."""
    for folder in folders:
        name = folder.name
        if name.startswith(DELETING):
            run_id = name[len(DELETING) :].rsplit("-", 1)[0]
            if run_id in rows and not (store.runs_dir / run_id).exists():
                yield (
                    Problem(
                        "deleting-leftover",
                        str(folder),
                        f"{folder} is the artifact folder of run {run_id}, moved aside by "
                        "a delete that did not finish; the record still exists",
                        f"move it back to {store.runs_dir / run_id}",
                    ),
                    lambda f=folder, t=store.runs_dir / run_id: f.rename(t),
                )
            elif run_id not in rows and _older(folder, cutoff):
                yield (
                    Problem(
                        "deleting-leftover",
                        str(folder),
                        f"{folder} is left over from deleting run {run_id}",
                        "remove it",
                    ),
                    lambda f=folder: shutil.rmtree(f),
                )
        elif not name.startswith(".") and name not in rows and _older(folder, cutoff):
            files = sum(p.is_file() for p in folder.rglob("*"))
            what = f"{files} file{'s' * (files != 1)}" if files else "empty"
            yield (
                Problem(
                    "orphan-folder",
                    str(folder),
                    f"{folder} ({what}) belongs to no recorded run",
                    "remove it",
                ),
                lambda f=folder: shutil.rmtree(f),
            )


def _temp_files(root: Path, runs_dir: Path, settled: set[str], cutoff: float):
    """Hidden ``.NAME.*.tmp`` files and folders left by writes that never finished: anywhere
    in the store (the feature cache, ...) except the run folders of live runs (their writes
    may be in progress) and folders that are no run's (:func:`_leftovers` removes those)."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == runs_dir:
            dirnames[:] = [d for d in dirnames if d in settled]
        for name in [*filenames, *dirnames]:
            path = here / name
            if name.startswith(".") and name.endswith(".tmp") and _older(path, cutoff):
                yield (
                    Problem(
                        "temp-file",
                        str(path),
                        f"{path} is a temporary file of a write that did not finish",
                        "remove it",
                    ),
                    lambda p=path: _remove(p),
                )
        dirnames[:] = [d for d in dirnames if not (d.startswith(".") and d.endswith(".tmp"))]


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
