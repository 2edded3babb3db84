"""The run store: every run's config, metrics, versions and status, plus its artifact folder.

Layout under the store root (``$TRANSFERKIT_HOME``, default ``~/.transferkit``)::

    store.db          SQLite database (WAL mode), table ``runs``
    runs/<run id>/    the run's artifacts (checkpoints, saved model, predictions, report)

Every run is recorded so ``transferkit runs show ID`` can say how to reproduce it. The store
opens a fresh SQLite connection per operation, so a :class:`RunStore` may be shared across
threads or inherited by forked processes (torchrun ranks) without sharing a connection.
Nothing is pickled: dict fields are stored as JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from transferkit.errors import UserError
from transferkit.store import db
from transferkit.store.artifacts import storage_error
from transferkit.store.db import config_hash, to_json
from transferkit.store.lifecycle import Lifecycle
from transferkit.store.owner import current_owner, owner_gone
from transferkit.store.record import RunRecord, _new_id, _now, home
from transferkit.store.versions import package_versions

STATUSES = db.STATUSES


class RunStore(Lifecycle):
    """Runs in ``root/store.db`` with artifacts in ``root/runs/<id>``; ``root`` defaults to :func:`home`."""

    DB_NAME = "store.db"
    RUNS_DIR = "runs"

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else home()
        self.db_path = self.root / self.DB_NAME
        self.runs_dir = self.root / self.RUNS_DIR
        #: Why this process cannot use the store, kept instead of raised under a launcher
        #: (torchrun): every process first joins the others, then all refuse together.
        self.unusable: UserError | None = None
        try:
            self._open()
        except UserError as e:
            if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
                raise
            self.unusable = e

    def _open(self) -> None:
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            for place in (self.root, self.runs_dir, self.db_path):  # a read-only store
                mode = os.W_OK | os.X_OK if place.is_dir() else os.W_OK
                if place.exists() and not os.access(place, mode):
                    raise PermissionError(f"no write permission on {place}")
            with closing(db.connect(self.db_path)) as conn:
                db.ensure_schema(conn, self.db_path)
        except (OSError, sqlite3.OperationalError) as e:  # cannot create / open / lock
            if isinstance(e, sqlite3.OperationalError) and db.problem_of(e) == "full":
                raise db.storage_error(self.db_path, e) from e
            raise UserError(
                f"Cannot use {self.root} as the transferkit run store ({e}). Make it writable, "
                "or set TRANSFERKIT_HOME to a writable folder, e.g. "
                "`export TRANSFERKIT_HOME=$PWD/.transferkit`."
            ) from e
        except sqlite3.DatabaseError as e:  # e.g. "file is not a database"
            raise UserError(
                f"{self.db_path} is not a transferkit run store database ({e}); it may be damaged. "
                "Move it aside to start a new store, or set TRANSFERKIT_HOME to another folder."
            ) from e

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection; SQLite failures the user can fix (full disk, read-only store,
        a lock held too long) become a :class:`UserError` naming the problem and the fix."""
        if self.unusable is not None:
            raise self.unusable
        try:
            with closing(db.connect(self.db_path)) as conn:
                yield conn
        except sqlite3.OperationalError as e:
            friendly = db.storage_error(self.db_path, e)
            if friendly is None:
                raise
            raise friendly from e

    # ----------------------------------------------------------------- create
    def create(
        self,
        kind: str,
        config: dict[str, Any],
        *,
        seed: int | None = None,
        data_fingerprint: str | None = None,
        parent: str | None = None,
        name: str | None = None,
    ) -> str:
        """Record a new run (status ``running``) and make its artifact folder; returns its id."""
        if not kind:
            raise ValueError("kind must be a non-empty string")
        if parent is not None:
            parent = self.get(parent).id
        config_text = to_json(config)  # fails early on unserializable configs
        now = _now()
        row = {
            "kind": kind,
            "status": "running",
            "created": now,
            "updated": now,
            "name": name,
            "seed": None if seed is None else int(seed),
            "data_fingerprint": data_fingerprint,
            "parent": parent,
            "config": config_text,
            "config_hash": config_hash(config),
            "metrics": "{}",
            "timings": "{}",
            "extra": "{}",
            "versions": to_json(package_versions()),
            **current_owner(),
            "heartbeat": now,
        }
        for _ in range(100):
            run_id = _new_id()
            folder = self.runs_dir / run_id
            try:
                folder.mkdir()  # atomic: also reserves the id against other processes
            except FileExistsError:
                continue
            except OSError as e:  # read-only runs/ folder, full disk
                raise (storage_error(folder, e) or e) from None
            try:
                with self._connect() as conn, db.write_txn(conn):
                    db.insert(conn, {"id": run_id, **row})
            except sqlite3.IntegrityError:  # id taken by a run whose folder was removed
                folder.rmdir()
                continue
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            return run_id
        raise RuntimeError("could not find a free run id after 100 attempts")

    # ------------------------------------------------------------------ read
    def _resolve(self, conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
        run_id = str(run_id).strip()
        row = db.fetch(conn, run_id) if run_id else None
        if row is not None:
            return row
        matches = db.ids_with_prefix(conn, run_id, limit=6) if run_id else []
        if len(matches) == 1:
            row = db.fetch(conn, matches[0])
            if row is not None:
                return row
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise UserError(
                f"Run id prefix {run_id!r} is ambiguous: it matches {shown}. Give more "
                "characters of the id (see `transferkit runs list`)."
            )
        raise UserError(
            f"No run {run_id!r} in the run store {self.root}. Use `transferkit runs list` to see "
            "the recorded runs (or set TRANSFERKIT_HOME if they live in another store)."
        )

    def get(self, run_id: str) -> RunRecord:
        """The run with this id, or with a unique prefix of it. A ``running`` run whose
        process is gone is marked ``interrupted`` first (see :mod:`transferkit.store.owner`)."""
        with self._connect() as conn:
            row = self._resolve(conn, run_id)
        return self._reconciled(row)

    def _reconciled(self, row: dict[str, Any]) -> RunRecord:
        if row["status"] == "running":
            why = owner_gone(row)
            if why is not None:
                return self.mark_stale(row["id"], why)
        return RunRecord.from_row(row)

    def list(
        self, kind: str | None = None, status: str | None = None, limit: int | None = 50
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one kind and/or status; ``limit=None`` for all."""
        if status is not None:
            _check_status(status)
        # A stale ``running`` row reads as ``interrupted``: filter after reconciling.
        query = None if status in ("interrupted", "running") else status
        with self._connect() as conn:
            rows = db.select(
                conn, {"kind": kind, "status": query}, limit=limit if query == status else None
            )
        records = [self._reconciled(r) for r in rows]
        records = [r for r in records if status is None or r.status == status]
        return records if limit is None else records[:limit]

    def latest(self, kind: str | None = None) -> RunRecord | None:
        """The newest run (of ``kind``, if given), or ``None`` if there is none."""
        runs = self.list(kind=kind, limit=1)
        return runs[0] if runs else None

    def find(self, kind: str, config_key: str | dict[str, Any]) -> RunRecord | None:
        """The newest ``done`` run of ``kind`` whose config hash is ``config_key``.

        ``config_key`` is a :func:`config_hash`; a config dict is hashed here. Used to reuse
        finished cells of a comparison instead of training them again.
        """
        key = config_hash(config_key) if isinstance(config_key, dict) else config_key
        with self._connect() as conn:
            rows = db.select(conn, {"config_hash": key, "kind": kind, "status": "done"}, limit=1)
        return RunRecord.from_row(rows[0]) if rows else None

    def artifact_dir(self, run_id: str) -> Path:
        """The run's artifact folder (``root/runs/<id>``); it must exist."""
        record = self.get(run_id)
        folder = self.runs_dir / record.id
        if not folder.is_dir():
            raise UserError(
                f"The artifact folder {folder} of run {record.id} was deleted, so its models and "
                f"checkpoints are gone. Run it again, or remove the record with "
                f"`transferkit runs delete {record.id}`."
            )
        return folder

    # ----------------------------------------------------------------- write
    def update(
        self,
        run_id: str,
        *,
        status: str | None = None,
        metrics: dict[str, Any] | None = None,
        timings: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """Change a run in one transaction; dict fields are merged key-wise into the stored ones.

        ``config`` is merged the same way and its hash recomputed. Returns the updated record.
        """
        if status is not None:
            _check_status(status)
        patches = {"metrics": metrics, "timings": timings, "extra": extra, "config": config}
        with self._connect() as conn, db.write_txn(conn):
            row = self._resolve(conn, run_id)
            values: dict[str, Any] = {"updated": _now()}
            for col, patch in patches.items():
                if patch:
                    merged = {**json.loads(row[col] or "{}"), **patch}
                    values[col] = to_json(merged)
                    if col == "config":
                        values["config_hash"] = config_hash(merged)
            if status is not None:
                values["status"] = status
            if error is not None:
                values["error"] = error
            db.update(conn, row["id"], values)
            row.update(values)
        return RunRecord.from_row(row)

    def delete(self, run_id: str) -> None:
        """Remove a run's record and its artifact folder."""
        with self._connect() as conn:
            full_id = self._resolve(conn, run_id)["id"]
            folder = self.runs_dir / full_id
            # Move the folder aside first: if the row cannot be deleted it is moved back, and
            # a crash after the commit leaves only a hidden folder, never a record without data.
            trash = self.runs_dir / f".deleting-{full_id}-{secrets.token_hex(3)}"
            moved = folder.is_dir()
            if moved:
                folder.rename(trash)
            try:
                with db.write_txn(conn):
                    db.delete(conn, full_id)
            except BaseException:
                if moved:
                    trash.rename(folder)
                raise
        if moved:
            shutil.rmtree(trash, ignore_errors=True)


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; expected one of {', '.join(STATUSES)}")
