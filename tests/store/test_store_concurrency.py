"""Several real processes sharing one store, and a process that dies inside a transaction.

Workers are started with the ``spawn`` method (what torchrun ranks and a parallel CLI look like
to SQLite: separate interpreters, no shared connection). They are module-level functions so the
spawned interpreters can import them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from transferkit.errors import UserError
from transferkit.store import RunStore, db
from transferkit.store import db as store_db

N_WORKERS = 4
N_RUNS = 20


def _worker(root: str, worker: int, shared_id: str, barrier) -> None:
    store = RunStore(Path(root))
    barrier.wait(timeout=60)
    for j in range(N_RUNS):
        run_id = store.create("fit", {"worker": worker, "j": j}, seed=j, name=f"w{worker}-{j}")
        store.update(run_id, metrics={"acc": j / 100})
        store.update(run_id, metrics={"loss": float(worker)}, timings={"fit_s": j})
        (store.artifact_dir(run_id) / "ok.txt").write_text(f"{worker}-{j}")
        store.finish(run_id, metrics={"done": True})
        # Every worker merges its own keys into one shared run: no update may be lost.
        store.update(shared_id, metrics={f"w{worker}-{j}": j})


def _fresh_worker(root: str, barrier) -> None:
    barrier.wait(timeout=60)
    store = RunStore(Path(root))  # all open (and create the schema of) a new store at once
    store.finish(store.create("rank", {"pid": os.getpid()}))


def _crash_mid_transaction(root: str, run_id: str) -> None:
    """Begin a write, change the run, then die without committing or rolling back."""
    store = RunStore(Path(root))
    conn = store_db.connect(store.db_path)
    conn.execute("BEGIN IMMEDIATE")
    store_db.update(conn, run_id, {"status": "done", "metrics": '{"acc": 1.0}'})
    os._exit(3)


def _run_all(procs: list) -> None:
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def test_concurrent_writers(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    store = RunStore(tmp_path / "home")
    shared = store.create("compare", {})
    barrier = ctx.Barrier(N_WORKERS)
    args = [(str(store.root), w, shared, barrier) for w in range(N_WORKERS)]
    _run_all([ctx.Process(target=_worker, args=a) for a in args])

    recs = store.list(kind="fit", limit=None)
    assert len(recs) == N_WORKERS * N_RUNS == len({r.id for r in recs})
    seen = set()
    for r in recs:
        w, j = r.config["worker"], r.config["j"]
        seen.add((w, j))
        assert (r.status, r.seed, r.name) == ("done", j, f"w{w}-{j}")
        assert r.metrics == {"acc": j / 100, "loss": float(w), "done": True}
        assert r.timings == {"fit_s": j}
        assert (store.artifact_dir(r.id) / "ok.txt").read_text() == f"{w}-{j}"
    assert len(seen) == N_WORKERS * N_RUNS
    expected = {f"w{w}-{j}": j for w in range(N_WORKERS) for j in range(N_RUNS)}
    assert store.get(shared).metrics == expected


def test_concurrent_first_open(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    root = tmp_path / "fresh"
    barrier = ctx.Barrier(N_WORKERS)
    _run_all([ctx.Process(target=_fresh_worker, args=(str(root), barrier)) for _ in range(4)])
    recs = RunStore(root).list(limit=None)
    assert len(recs) == N_WORKERS and all(r.status == "done" for r in recs)


def test_process_dying_mid_transaction_keeps_previous_state(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    run_id = store.create("fit", {"a": 1})
    store.update(run_id, metrics={"acc": 0.5})
    before = store.get(run_id)
    proc = mp.get_context("spawn").Process(
        target=_crash_mid_transaction, args=(str(store.root), run_id)
    )
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 3
    assert store.get(run_id) == before
    assert store.finish(run_id).status == "done"  # the dead writer's lock is gone


def test_run_of_a_killed_process_reads_as_interrupted(tmp_path: Path) -> None:
    """A run whose process died without finishing it is recognised by its owner (host, pid,
    start token) and reads as 'interrupted', with the reason; a live owner's run stays
    'running'."""
    store = RunStore(tmp_path / "home")
    mine = store.create("fit", {"mine": 1})
    proc = mp.get_context("spawn").Process(target=_fresh_worker_no_finish, args=(str(store.root),))
    proc.start()
    proc.join(timeout=60)
    by_id = {r.id: r for r in store.list()}
    assert by_id[mine].status == "running" and by_id[mine].pid == os.getpid()
    (dead,) = [r for r in by_id.values() if r.id != mine]
    assert dead.status == "interrupted" and "has ended" in dead.error
    assert store.get(dead.id).status == "interrupted"  # persisted, not only displayed
    assert [r.id for r in store.list(status="interrupted")] == [dead.id]
    assert store.claim(dead.id).status == "running"  # resumable: this process takes it over
    assert store.get(dead.id).pid == os.getpid() and store.get(dead.id).error is None


def test_owner_checks_pid_reuse_and_other_hosts_heartbeat(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    reused = store.create("fit", {"a": 1})
    with closing(db.connect(store.db_path)) as conn, db.write_txn(conn):
        db.update(conn, reused, {"pid_started": "another-boot:1"})  # same pid, other process
    assert store.get(reused).status == "interrupted"
    remote, quiet = store.create("fit", {"b": 1}), store.create("fit", {"c": 1})
    old = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    with closing(db.connect(store.db_path)) as conn, db.write_txn(conn):
        db.update(conn, remote, {"host": "elsewhere", "heartbeat": old})
        db.update(conn, quiet, {"host": "elsewhere"})  # heartbeat fresh: may be alive
    assert store.get(remote).status == "interrupted" and "not reported" in store.get(remote).error
    assert store.get(quiet).status == "running"
    with pytest.raises(UserError, match="still running"):
        RunStore(store.root).claim(quiet)


def _fresh_worker_no_finish(root: str) -> None:
    RunStore(Path(root)).create("fit", {})
    os._exit(1)  # dies without finishing the run
