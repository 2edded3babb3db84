"""Judging the store a killed process left, with sqlite3, json, safetensors and numpy alone
(not transferkit's own ``runs check``): :func:`verify` lists everything wrong; an empty list
means intact. Shared by ``tests/faults`` and ``benchmarks/faults.py``."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

MODEL_KINDS = ("fit", "pretrain", "adapt", "adapt-member")  # a done run of these has a model


def records(home: Path) -> list[Any]:
    """Every record, read through the store (a run whose process is dead reads as
    ``interrupted``: that reconciliation is part of what is tested)."""
    from transferkit.store import RunStore

    return RunStore(home).list(limit=None)


def temp_files(home: Path) -> list[str]:
    """Hidden temporary files (a kill in the middle of a write leaves one)."""
    return sorted(str(p.relative_to(home)) for p in home.rglob(".*.tmp"))


def _is_temp(path: Path, home: Path) -> bool:
    """A hidden ``.NAME.*.tmp`` file, or anything inside such a folder: may hold partial data."""
    return any(p.startswith(".") and p.endswith(".tmp") for p in path.relative_to(home).parts)


def _unreadable(path: Path) -> str | None:
    """Why the file at its final name is not a complete file of its type (None: it is)."""
    from safetensors.numpy import load_file

    try:
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".safetensors":
            load_file(str(path))
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                [z[k] for k in z.files]
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        return f"{type(e).__name__}: {e}"
    return None


def half_written(home: Path) -> list[str]:
    """Files under their final names that do not read back completely."""
    bad = []
    for path in sorted(home.rglob("*")):
        if path.is_file() and not _is_temp(path, home):
            why = _unreadable(path)
            if why:
                bad.append(f"{path.relative_to(home)}: {why}")
    return bad


def integrity(home: Path) -> str:
    db = home / "store.db"
    if not db.exists():
        return "ok"  # killed before the store was created
    with closing(sqlite3.connect(db)) as conn:
        return "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))


def status_problems(home: Path) -> list[str]:
    """Runs whose status disagrees with their artifacts or with their process."""
    bad = []
    recs = records(home)
    by_id = {r.id: r for r in recs}
    for r in recs:
        folder = home / "runs" / r.id
        if r.status == "running":
            bad.append(f"{r.id} ({r.kind}) is still 'running' though no process owns it")
        if not folder.is_dir():
            bad.append(f"{r.id} ({r.kind}, {r.status}) has no artifact folder")
        if r.status == "done" and r.kind in MODEL_KINDS:
            missing = [
                n
                for n in ("model.json", "model.safetensors")
                if not (folder / "model" / n).is_file()
            ]
            if missing:
                bad.append(f"{r.id} ({r.kind}) is done but lacks model/{', '.join(missing)}")
        if r.status == "done" and r.kind == "compare":
            for m in r.extra.get("members", []):
                if getattr(by_id.get(m["run"]), "status", None) != "done":
                    bad.append(f"compare {r.id} is done but its member {m['run']} is not")
    return bad


def verify(home: Path) -> dict[str, Any]:
    """Everything wrong with the store in ``home``; ``ok`` when nothing is."""
    check = integrity(home)
    half = half_written(home)
    status = status_problems(home) if check == "ok" and (home / "store.db").exists() else []
    return {
        "integrity": check,
        "half_written": half,
        "status": status,
        "ok": check == "ok" and not half and not status,
    }
