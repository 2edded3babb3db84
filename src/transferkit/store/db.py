"""SQLite schema and queries of the run store.

One table, ``runs``; dict-valued fields (config, metrics, timings, extra, versions) are JSON
TEXT. The database runs in WAL mode with a busy timeout so several processes (torchrun ranks, a
parallel CLI) can read while one writes and writers wait for each other instead of failing.

Every write goes through :func:`write_txn`, which opens the transaction with ``BEGIN IMMEDIATE``:
a read-modify-write (merging metrics) takes the write lock before it reads, so two processes
cannot merge into the same run from the same stale snapshot, and an exception anywhere inside
the block rolls everything back. Connections are opened in autocommit mode
(``isolation_level=None``) so that Python's sqlite3 module never opens implicit transactions
behind our back.

The schema version lives in ``PRAGMA user_version``; :func:`ensure_schema` is idempotent and
is where migrations go when the schema changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transferkit.errors import UserError

SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
STATUSES = ("running", "done", "failed", "interrupted", "pruned")
_V1_STATUSES = ("running", "done", "failed", "interrupted")

#: Columns of ``runs`` in table order; also the order of values read by :func:`fetch`.
COLUMNS = (
    "id", "kind", "status", "created", "updated", "name", "seed", "data_fingerprint",
    "parent", "config", "config_hash", "metrics", "timings", "extra", "versions", "host",
    "error", "pid", "pid_started", "heartbeat",
)  # fmt: skip

#: Schema 2: the owner of a run (pid and process start token beside ``host``) and its heartbeat,
#: so a run whose process was killed is recognised (``store/owner.py``).
_V2_COLUMNS = (("pid", "INTEGER"), ("pid_started", "TEXT"), ("heartbeat", "TEXT"))

_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ({statuses})),
    created          TEXT NOT NULL,
    updated          TEXT NOT NULL,
    name             TEXT,
    seed             INTEGER,
    data_fingerprint TEXT,
    parent           TEXT,
    config           TEXT NOT NULL DEFAULT '{{}}',
    config_hash      TEXT NOT NULL,
    metrics          TEXT NOT NULL DEFAULT '{{}}',
    timings          TEXT NOT NULL DEFAULT '{{}}',
    extra            TEXT NOT NULL DEFAULT '{{}}',
    versions         TEXT NOT NULL DEFAULT '{{}}',
    host             TEXT,
    error            TEXT{more}
)"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
CREATE INDEX IF NOT EXISTS runs_kind_created ON runs (kind, created);
CREATE INDEX IF NOT EXISTS runs_config_hash ON runs (config_hash, kind, status, created);
"""
_SCHEMA_V1 = (
    _TABLE.format(name="runs", statuses=", ".join(map(repr, _V1_STATUSES)), more="")
    + ";"
    + _INDEXES
)


def _rebuild_v3(conn: sqlite3.Connection) -> None:
    """Schema 3: the status ``pruned`` (a run an automatic search stopped on purpose). SQLite
    cannot change a CHECK constraint, so the table is copied into a new one and renamed (inside
    the caller's transaction: a crash leaves schema 2 untouched)."""
    more = "".join(f",\n    {n} {t}" for n, t in _V2_COLUMNS)
    conn.execute(_TABLE.format(name="runs_v3", statuses=", ".join(map(repr, STATUSES)), more=more))
    cols = ", ".join(COLUMNS)
    conn.execute(f"INSERT INTO runs_v3 ({cols}) SELECT {cols} FROM runs")
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE runs_v3 RENAME TO runs")
    for stmt in _INDEXES.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def _jsonable(obj: Any) -> Any:
    """Fallback for :func:`json.dumps`: paths, dataclasses, enums, sets, numpy/torch scalars."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable: {obj!r:.80}")


def to_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces), the form stored and hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_jsonable)


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``config``: equal configs give equal hashes."""
    return hashlib.sha256(to_json(config).encode()).hexdigest()


def connect(path: Path) -> sqlite3.Connection:
    """Open the database in autocommit mode with a busy timeout (no implicit transactions)."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def write_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # After an I/O error (disk full) SQLite may have rolled back already; a failing
        # ROLLBACK must not hide the error that caused it.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def problem_of(e: sqlite3.Error) -> str | None:
    """What an SQLite error says about the store: ``"full"`` (disk full, file size limit or
    failing disk), ``"read-only"``, ``"locked"`` (busy beyond the timeout), or None."""
    text = str(e).lower()
    if "disk is full" in text or "disk i/o error" in text:
        return "full"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return "read-only"
    if "locked" in text:
        return "locked"
    return None


def storage_error(path: Path, e: sqlite3.Error) -> UserError | None:
    """A one-paragraph :class:`UserError` for an SQLite failure the user can fix (see
    :func:`problem_of`); None for anything else (bugs keep their traceback)."""
    problem = problem_of(e)
    if problem == "full":
        return UserError(
            f"Cannot write the run store database {path}: {e} (the disk is full, a file size "
            "limit was reached, or the disk failed). The failed write left the store unchanged; "
            "free space (or set TRANSFERKIT_HOME to a folder on a larger disk) and run the "
            "command again; an interrupted run continues with `--resume RUN`."
        )
    if problem == "read-only":
        return UserError(
            f"Cannot write the run store database {path} ({e}): the file or its folder is "
            f"read-only. Make {path.parent} and the files in it writable, or set "
            "TRANSFERKIT_HOME to a writable folder."
        )
    if problem == "locked":
        return UserError(
            f"The run store database {path} stayed locked by another process for more than "
            f"{BUSY_TIMEOUT_S:.0f} s ({e}). Wait for the other transferkit commands to finish "
            "and run this one again."
        )
    return None


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another process holds the lock: SQLite does
    not always call the busy handler for a journal-mode change, so several processes opening a
    new store at once could otherwise fail with "database is locked"."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Switch to WAL and create or migrate the schema; safe to call from many processes at once."""
    mode = _switch_to_wal(conn)
    if str(mode).lower() != "wal":  # e.g. a file system without shared memory support
        raise UserError(
            f"The run store {path} cannot use SQLite's WAL mode (got {mode!r}). Set "
            "TRANSFERKIT_HOME to a folder on a local disk."
        )
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    with write_txn(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UserError(
                f"The run store {path} was written by a newer transferkit (schema "
                f"{version}, this version reads {SCHEMA_VERSION}). Upgrade transferkit, or set "
                "TRANSFERKIT_HOME to another folder."
            )
        if version < 1:
            # executescript() would COMMIT our transaction first, so run statements one by one.
            for stmt in _SCHEMA_V1.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
        if version < 2:
            have = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
            for name, sql_type in _V2_COLUMNS:
                if name not in have:
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {sql_type}")
        if version < 3:
            _rebuild_v3(conn)
        # Future migrations: `if version < 4: ...`, each one step, inside this transaction.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def insert(conn: sqlite3.Connection, row: Mapping[str, Any]) -> None:
    """Insert one run row; raises :class:`sqlite3.IntegrityError` if the id is taken."""
    cols = [c for c in COLUMNS if c in row]
    marks = ", ".join("?" for _ in cols)
    conn.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({marks})", [row[c] for c in cols])


def fetch(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """The row with exactly this id, as a dict, or ``None``."""
    cur = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM runs WHERE id = ?", (run_id,))
    row = cur.fetchone()
    return dict(zip(COLUMNS, row, strict=True)) if row else None


def ids_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int = 10) -> list[str]:
    """Ids starting with ``prefix`` (compared literally: no LIKE wildcards), newest first."""
    cur = conn.execute(
        "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created DESC, id DESC LIMIT ?",
        (len(prefix), prefix, limit),
    )
    return [r[0] for r in cur.fetchall()]


def select(
    conn: sqlite3.Connection,
    where: Mapping[str, Any],
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Rows whose columns equal ``where`` (``None`` values are ignored), newest first."""
    conds = [(c, v) for c, v in where.items() if v is not None]
    for c, _ in conds:
        if c not in COLUMNS:
            raise ValueError(f"unknown column {c!r}")
    sql = f"SELECT {', '.join(COLUMNS)} FROM runs"
    if conds:
        sql += " WHERE " + " AND ".join(f"{c} = ?" for c, _ in conds)
    sql += " ORDER BY created DESC, id DESC"
    params: list[Any] = [v for _, v in conds]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [dict(zip(COLUMNS, r, strict=True)) for r in conn.execute(sql, params).fetchall()]


def update(conn: sqlite3.Connection, run_id: str, values: Mapping[str, Any]) -> None:
    """Set the given columns of one run (call inside :func:`write_txn`)."""
    cols: Sequence[str] = list(values)
    for c in cols:
        if c not in COLUMNS or c == "id":
            raise ValueError(f"cannot update column {c!r}")
    if not cols:
        return
    sets = ", ".join(f"{c} = ?" for c in cols)
    conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [values[c] for c in cols] + [run_id])


def delete(conn: sqlite3.Connection, run_id: str) -> None:
    """Remove one run row (call inside :func:`write_txn`)."""
    conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
