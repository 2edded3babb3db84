"""`runs check`: every kind of damage made for real (a killed process, removed and stray
folders, temporary files, a corrupted database page), found without changing anything, then
repaired; and the command's exit codes."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from conftest import run_cli

from transferkit.store import RunStore
from transferkit.store.check import check_store

OLD = time.time() - 3600  # an mtime well past the check's grace period


def _dies_with_a_running_run(root: str) -> None:
    RunStore(Path(root)).create("fit", {"dies": True})
    os._exit(1)


def _killed_run(store: RunStore) -> str:
    proc = mp.get_context("spawn").Process(target=_dies_with_a_running_run, args=(str(store.root),))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 1
    with closing(sqlite3.connect(store.db_path)) as conn:
        (run_id,) = conn.execute("SELECT id FROM runs WHERE status = 'running'").fetchone()
    return run_id


def _old(path: Path) -> Path:
    os.utime(path, (OLD, OLD))
    return path


def _statuses(store: RunStore) -> dict[str, str]:
    with closing(sqlite3.connect(store.db_path)) as conn:
        return dict(conn.execute("SELECT id, status FROM runs").fetchall())


def _damaged(tmp_path: Path) -> tuple[RunStore, dict]:
    """A store with one of every problem, and the facts the test checks afterwards."""
    store = RunStore(tmp_path / "home")
    done = store.create("fit", {"ok": 1})
    (store.artifact_dir(done) / "history.json").write_text("[]")
    store.finish(done, metrics={"acc": 0.5})
    stale = _killed_run(store)
    gone = store.create("fit", {"gone": 1})
    store.finish(gone)
    os.rmdir(store.runs_dir / gone)
    orphan = store.runs_dir / "r20000101-000000-dead"
    orphan.mkdir()
    (orphan / "model.json").write_text("{}")
    _old(orphan)
    leftover = _old_dir(store.runs_dir / ".deleting-r20000101-000000-beef-a1b2c3")
    moved = store.create("fit", {"moved": 1})
    (store.runs_dir / moved).rename(store.runs_dir / f".deleting-{moved}-0f0f0f")
    tmp_ckpt = _old(_file(store.runs_dir / done / "checkpoints" / ".last.safetensors.x1.tmp"))
    tmp_cache = _old(_file(store.root / "features" / ".abc.safetensors.y2.tmp"))
    live = store.create("fit", {"live": 1})  # this process owns it: alive
    tmp_live = _old(_file(store.runs_dir / live / ".history.json.z3.tmp"))
    young = store.runs_dir / "r20000101-000000-cafe"  # maybe a run being created now
    young.mkdir()
    facts = dict(
        done=done,
        stale=stale,
        gone=gone,
        orphan=orphan,
        leftover=leftover,
        moved=moved,
        tmp_ckpt=tmp_ckpt,
        tmp_cache=tmp_cache,
        live=live,
        tmp_live=tmp_live,
        young=young,
    )
    return store, facts


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"partial")
    return path


def _old_dir(path: Path) -> Path:
    path.mkdir()
    (path / "model.safetensors").write_bytes(b"x")
    return _old(path)


def test_clean_store_is_clean(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    store.finish(store.create("fit", {}))
    report = check_store(store)
    assert report.clean and report.problems == [] and report.integrity == "ok"
    assert report.runs == 1


def test_check_finds_every_problem_and_changes_nothing(tmp_path: Path) -> None:
    store, f = _damaged(tmp_path)
    before = _statuses(store)
    files_before = sorted(str(p) for p in store.root.rglob("*"))
    report = check_store(store)
    found = {(p.kind, p.target) for p in report.problems}
    assert found == {
        ("stale-running", f["stale"]),
        ("missing-folder", f["gone"]),
        ("orphan-folder", str(f["orphan"])),
        ("deleting-leftover", str(f["leftover"])),
        ("deleting-leftover", str(store.runs_dir / f".deleting-{f['moved']}-0f0f0f")),
        ("temp-file", str(f["tmp_ckpt"])),
        ("temp-file", str(f["tmp_cache"])),
    }
    assert not report.clean and all(not p.repaired for p in report.problems)
    assert _statuses(store) == before  # a check without --repair writes nothing
    assert sorted(str(p) for p in store.root.rglob("*")) == files_before


def test_repair_fixes_everything_and_leaves_live_work_alone(tmp_path: Path) -> None:
    store, f = _damaged(tmp_path)
    report = check_store(store, repair=True)
    assert report.clean and all(p.repaired for p in report.problems)
    stale, gone = store.get(f["stale"]), store.get(f["gone"])
    assert stale.status == "interrupted" and "has ended" in stale.error
    assert gone.status == "failed" and "artifact folder" in gone.error
    assert not f["orphan"].exists() and not f["leftover"].exists()
    assert (store.runs_dir / f["moved"]).is_dir()  # an unfinished delete is undone
    assert store.get(f["moved"]).status == "running"
    assert not f["tmp_ckpt"].exists() and not f["tmp_cache"].exists()
    assert (store.runs_dir / f["done"] / "history.json").read_text() == "[]"
    assert store.get(f["done"]).status == "done"
    assert f["tmp_live"].exists() and store.get(f["live"]).status == "running"
    assert f["young"].is_dir()  # within the grace period: perhaps a run being created
    again = check_store(store)
    assert again.clean and again.problems == []


def test_grace_period_protects_files_being_written(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    run = store.create("fit", {})
    store.finish(run)
    fresh = _file(store.runs_dir / run / ".model.safetensors.q.tmp")
    assert check_store(store).clean
    report = check_store(store, grace_s=0)
    assert [(p.kind, p.target) for p in report.problems] == [("temp-file", str(fresh))]


def test_damaged_database_is_reported_and_no_folder_is_removed(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    ids = [store.create("fit", {"pad": "x" * 3000, "i": i}) for i in range(30)]
    with closing(sqlite3.connect(store.db_path)) as conn:  # fold the WAL into store.db
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(store.db_path.read_bytes())
    page = 4096
    assert len(data) >= 8 * page
    data[5 * page : 6 * page] = bytes(range(256)) * (page // 256)  # garbage over one page
    store.db_path.write_bytes(bytes(data))
    report = check_store(store, repair=True)
    assert report.integrity != "ok" and not report.clean
    assert [p.kind for p in report.remaining] == ["integrity"]
    assert all((store.runs_dir / i).is_dir() for i in ids)  # never judged by a damaged table


def test_cli_runs_check_exit_codes_and_json(tk_home: Path) -> None:
    store = RunStore(tk_home)
    store.finish(store.create("fit", {}))
    assert run_cli("runs", "check", check=0).stdout.strip().endswith("the store is clean")
    stray = _old(_file(tk_home / "features" / ".feat.safetensors.k.tmp"))
    orphan = _old_dir(tk_home / "runs" / "r20000101-000000-0bad")
    p = run_cli("runs", "check", check=1)
    assert "orphan-folder" in p.stdout and "would repair" in p.stdout and "--repair" in p.stdout
    assert stray.exists() and orphan.exists()
    out = json.loads(run_cli("runs", "check", "--repair", "--json", check=0).stdout)
    assert out["clean"] is True and out["integrity"] == "ok"
    assert {p["kind"] for p in out["problems"]} == {"temp-file", "orphan-folder"}
    assert all(p["repaired"] for p in out["problems"])
    assert not stray.exists() and not orphan.exists()
    assert json.loads(run_cli("runs", "check", "--json", check=0).stdout)["problems"] == []


def test_cli_runs_check_on_an_unusable_store_is_a_user_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "store.db").write_bytes(b"this is not a database at all" * 100)
    p = run_cli("runs", "check", env_extra={"TRANSFERKIT_HOME": str(home)})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "store.db" in p.stderr
