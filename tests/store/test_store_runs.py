"""RunStore in one process: create, read, merge updates, status changes, lookups, errors."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transferkit.errors import UserError
from transferkit.store import RunRecord, RunStore, config_hash, home, runs
from transferkit.store import db as store_db


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "home"))
    return RunStore()


def test_home_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "x"))
    assert home() == tmp_path / "x"
    monkeypatch.delenv("TRANSFERKIT_HOME")
    assert home() == Path.home() / ".transferkit"


def test_layout_wal_and_schema_version(store: RunStore, tmp_path: Path) -> None:
    assert store.root == tmp_path / "home"
    assert (store.root / "store.db").is_file() and (store.root / "runs").is_dir()
    with sqlite3.connect(store.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store_db.SCHEMA_VERSION
    RunStore(store.root)  # opening again is idempotent


def test_newer_schema_is_a_user_error(store: RunStore) -> None:
    with sqlite3.connect(store.db_path) as conn:
        conn.execute(f"PRAGMA user_version = {store_db.SCHEMA_VERSION + 1}")
    with pytest.raises(UserError, match="newer transferkit"):
        RunStore(store.root)


def test_damaged_database_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "store.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a transferkit run store database"):
        RunStore(tmp_path)


def test_create_and_get(store: RunStore) -> None:
    config = {"model": "resnet18", "lr": 1e-3, "data": Path("/data/x"), "sizes": (1, 2)}
    run_id = store.create("fit", config, seed=7, data_fingerprint="abc", name="first")
    assert re.fullmatch(r"r\d{8}-\d{6}-[0-9a-f]{4}", run_id)
    rec = store.get(run_id)
    assert isinstance(rec, RunRecord)
    assert (rec.id, rec.kind, rec.status, rec.seed) == (run_id, "fit", "running", 7)
    assert (rec.data_fingerprint, rec.name, rec.parent, rec.error) == ("abc", "first", None, None)
    assert rec.config == {"model": "resnet18", "lr": 1e-3, "data": "/data/x", "sizes": [1, 2]}
    assert rec.config_hash == config_hash(config) == config_hash(rec.config)
    assert rec.created == rec.updated and rec.created.endswith("+00:00")
    assert rec.metrics == rec.timings == rec.extra == {}
    assert rec.versions["python"] == f"{sys.version_info.major}.{sys.version_info.minor}." + str(
        sys.version_info.micro
    )
    assert {"transferkit", "torch", "numpy", "scikit-learn", "safetensors"} <= rec.versions.keys()
    assert rec.host
    assert store.artifact_dir(run_id) == store.root / "runs" / run_id
    assert store.artifact_dir(run_id).is_dir()
    d = rec.to_dict()
    assert d["id"] == run_id and d["config"]["model"] == "resnet18"


def test_parent_is_resolved_and_checked(store: RunStore) -> None:
    parent = store.create("pretrain", {})
    child = store.create("fit", {}, parent=parent[:-1])
    assert store.get(child).parent == parent
    with pytest.raises(UserError, match="runs list"):
        store.create("fit", {}, parent="rnope")


def test_unserializable_config_leaves_nothing(store: RunStore) -> None:
    with pytest.raises(TypeError):
        store.create("fit", {"bad": object()})
    assert store.list() == []
    assert list((store.root / "runs").iterdir()) == []


def test_update_merges_dicts(store: RunStore) -> None:
    run_id = store.create("fit", {"a": 1, "b": 2})
    before = store.get(run_id)
    store.update(run_id, metrics={"acc": 0.5, "loss": 1.0}, timings={"fit_s": 3.0})
    store.update(run_id, metrics={"acc": np.float32(0.75)}, extra={"skipped": ["x.png"]})
    rec = store.update(run_id, config={"b": 3, "c": 4})
    assert rec.metrics == {"acc": 0.75, "loss": 1.0}
    assert rec.timings == {"fit_s": 3.0} and rec.extra == {"skipped": ["x.png"]}
    assert rec.config == {"a": 1, "b": 3, "c": 4}
    assert rec.config_hash == config_hash({"a": 1, "b": 3, "c": 4}) != before.config_hash
    assert rec.status == "running" and rec.updated > before.updated
    assert store.get(run_id) == rec
    with pytest.raises(ValueError, match="unknown run status"):
        store.update(run_id, status="exploded")


def test_status_transitions(store: RunStore) -> None:
    a, b, c, d = (store.create("fit", {"i": i}) for i in range(4))
    done = store.finish(a, metrics={"acc": 0.9}, timings={"total_s": 1.5})
    assert (done.status, done.metrics, done.timings) == ("done", {"acc": 0.9}, {"total_s": 1.5})
    failed = store.fail(b, "Traceback ...\nValueError: boom")
    assert failed.status == "failed" and "boom" in failed.error
    assert store.interrupt(c).status == "interrupted"
    assert store.mark_stale(d).status == "interrupted"  # left running by a dead process
    assert store.mark_stale(a).status == "done"  # a finished run stays finished
    statuses = [store.get(x).status for x in (a, b, c, d)]
    assert statuses == ["done", "failed", "interrupted", "interrupted"]


def test_list_latest_and_filters(store: RunStore) -> None:
    assert store.list() == [] and store.latest() is None
    ids = [store.create("fit" if i % 2 else "adapt", {"i": i}) for i in range(5)]
    store.finish(ids[3])
    assert [r.id for r in store.list()] == ids[::-1]
    assert [r.id for r in store.list(kind="fit")] == [ids[3], ids[1]]
    assert [r.id for r in store.list(status="done")] == [ids[3]]
    assert [r.id for r in store.list(kind="adapt", status="done")] == []
    assert len(store.list(limit=2)) == 2 and len(store.list(limit=None)) == 5
    assert store.latest().id == ids[4] and store.latest("fit").id == ids[3]
    assert store.latest("pretrain") is None


def test_prefix_lookup(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = iter(["r20250101-000000-aaaa", "r20250101-000000-aabb"])
    monkeypatch.setattr(runs, "_new_id", lambda: next(fake))
    a, b = store.create("fit", {}), store.create("fit", {})
    assert store.get("r20250101-000000-aaa").id == a
    assert store.get("r20250101-000000-aab").id == b
    assert store.get(f"  {a} ").id == a
    with pytest.raises(UserError, match="ambiguous") as e:
        store.get("r20250101-000000-aa")
    assert a in str(e.value) and b in str(e.value)
    for bad in ("r2024", "", "%", "r20250101_000000"):  # LIKE wildcards are taken literally
        with pytest.raises(UserError, match="runs list"):
            store.get(bad)


def test_unknown_id_message(store: RunStore) -> None:
    with pytest.raises(UserError) as e:
        store.get("r19990101-000000-dead")
    msg = str(e.value)
    assert "r19990101-000000-dead" in msg and "transferkit runs list" in msg
    assert str(store.root) in msg
    for op in (store.artifact_dir, store.interrupt, store.delete):
        with pytest.raises(UserError, match="runs list"):
            op("r19990101-000000-dead")


def test_id_collision_is_retried(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = iter(["r20250101-000000-0001", "r20250101-000000-0001", "r20250101-000000-0002"])
    monkeypatch.setattr(runs, "_new_id", lambda: next(fake))
    assert store.create("fit", {}) == "r20250101-000000-0001"
    assert store.create("fit", {}) == "r20250101-000000-0002"


def test_find_by_config_hash(store: RunStore) -> None:
    cfg = {"model": "m", "strategy": "linear", "labels_per_class": 10}
    same_cfg_reordered = {"labels_per_class": 10, "strategy": "linear", "model": "m"}
    assert store.find("compare-cell", config_hash(cfg)) is None
    old = store.create("compare-cell", cfg)
    store.finish(old, metrics={"acc": 0.1})
    new = store.create("compare-cell", same_cfg_reordered)
    store.finish(new, metrics={"acc": 0.2})
    store.create("compare-cell", cfg)  # running: not reusable
    failed = store.create("compare-cell", cfg)
    store.fail(failed, "boom")
    other_kind = store.create("fit", cfg)
    store.finish(other_kind)
    found = store.find("compare-cell", config_hash(cfg))
    assert found is not None and found.id == new and found.metrics == {"acc": 0.2}
    assert store.find("compare-cell", same_cfg_reordered).id == new  # a dict is hashed
    assert store.find("compare-cell", config_hash({**cfg, "labels_per_class": 100})) is None


def test_delete_removes_record_and_folder(store: RunStore) -> None:
    keep, gone = store.create("fit", {}), store.create("fit", {})
    folder = store.artifact_dir(gone)
    (folder / "model.safetensors").write_bytes(b"x")
    store.delete(gone)
    assert not folder.exists()
    assert not any(p.name.startswith(".deleting") for p in (store.root / "runs").iterdir())
    with pytest.raises(UserError):
        store.get(gone)
    assert [r.id for r in store.list()] == [keep]
    shutil.rmtree(store.artifact_dir(keep))  # a record whose folder vanished can be deleted
    store.delete(keep)
    assert store.list() == []


def test_artifact_dir_of_deleted_folder(store: RunStore) -> None:
    run_id = store.create("fit", {})
    shutil.rmtree(store.root / "runs" / run_id)
    with pytest.raises(UserError, match="was deleted"):
        store.artifact_dir(run_id)
    assert store.get(run_id).status == "running"  # the record itself is still readable


def test_unwritable_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where chmod does not block writes; a path below a regular file
    # fails for every user.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    bad = blocker / "home"
    monkeypatch.setenv("TRANSFERKIT_HOME", str(bad))
    for make in (RunStore, lambda: RunStore(bad)):
        with pytest.raises(UserError) as e:
            make()
        assert str(bad) in str(e.value) and "TRANSFERKIT_HOME" in str(e.value)
        assert "writable" in str(e.value)


def test_exception_inside_update_keeps_previous_state(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = store.create("fit", {"a": 1})
    store.update(run_id, metrics={"acc": 0.5})
    before = store.get(run_id)
    real_update = store_db.update

    def crash_after_write(conn, rid, values):  # the UPDATE runs, then the process "crashes"
        real_update(conn, rid, values)
        raise RuntimeError("crash mid-transaction")

    monkeypatch.setattr(store_db, "update", crash_after_write)
    with pytest.raises(RuntimeError, match="crash"):
        store.update(run_id, status="done", metrics={"acc": 0.9, "f1": 0.1}, config={"a": 2})
    with pytest.raises(RuntimeError, match="crash"):
        store.mark_stale(run_id)
    monkeypatch.undo()
    assert store.get(run_id) == before
    assert store.finish(run_id).status == "done"  # the database is not left locked


def test_no_heavy_imports(tmp_path: Path) -> None:
    """Recording a run reads versions from metadata; it must not import torch & co."""
    code = (
        "import sys; from transferkit.store import RunStore\n"
        f"s = RunStore({str(tmp_path / 'h')!r}); r = s.create('fit', {{}})\n"
        "assert s.get(r).versions['torch'], 'torch version missing'\n"
        "heavy = {'torch', 'timm', 'torchvision', 'transformers', 'sklearn'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_schema_1_store_migrates_keeping_its_runs_and_takes_pruned_runs(tmp_path):
    """Stores written by earlier versions gain the owner columns (2) and the pruned status (3)."""
    import sqlite3

    from transferkit.store import db

    root = tmp_path / "old"
    (root / "runs" / "r1").mkdir(parents=True)
    conn = sqlite3.connect(root / "store.db", isolation_level=None)
    for stmt in db._SCHEMA_V1.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute(
        "INSERT INTO runs (id, kind, status, created, updated, config_hash) VALUES "
        "('r1', 'fit', 'done', '2026-01-01T00:00:00', '2026-01-01T00:00:00', 'h')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = RunStore(root)
    assert store.get("r1").status == "done" and store.get("r1").pid is None
    new = store.create("fit", {"a": 1})
    assert store.prune(new, "pruned by successive halving after epoch 1").status == "pruned"
    assert [r.id for r in store.list(status="pruned")] == [new]
    with sqlite3.connect(root / "store.db") as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
