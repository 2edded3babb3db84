"""Several real processes sharing one store, and a process that dies inside a transaction.

Workers are started with the ``spawn`` method (what torchrun ranks and a parallel CLI look like
to SQLite: separate interpreters, no shared connection). They are module-level functions so the
spawned interpreters can import them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

from transferkit.store import RunStore
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


def test_stale_run_is_reported_as_is(tmp_path: Path) -> None:
    """A run whose process died stays 'running' until resume calls mark_stale."""
    store = RunStore(tmp_path / "home")
    proc = mp.get_context("spawn").Process(target=_fresh_worker_no_finish, args=(str(store.root),))
    proc.start()
    proc.join(timeout=60)
    (rec,) = store.list()
    assert rec.status == "running" == store.get(rec.id).status
    assert store.mark_stale(rec.id[:12]).status == "interrupted"


def _fresh_worker_no_finish(root: str) -> None:
    RunStore(Path(root)).create("fit", {})
    os._exit(1)  # dies without finishing the run
