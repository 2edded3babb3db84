"""The store under hostile conditions: read-only folders and files (a clear error, exit 2,
nothing changed), and several writer processes at once while one of them is SIGKILLed (no
run of the others is lost, the killed one's runs are done or interrupted, never 'running')."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from faultcheck import integrity, verify
from faultfixtures import seeded_rng
from faultkit import child_env, run
from readonly import as_ordinary_user, can_write

from transferkit.store import RunStore

CASES = {  # what is read-only -> the command tried on it
    "store folder": (
        ("", "runs"),
        [
            "fit",
            "--data",
            "builtin:digits",
            "--model",
            "tiny-cnn",
            "--strategy",
            "linear",
            "--image-size",
            "8",
        ],
    ),
    "database file": (("store.db",), ["runs", "delete", "{run}"]),
    "runs folder": (("runs",), ["runs", "delete", "{run}"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_read_only_store_is_a_clear_error(case, tmp_path):
    home = tmp_path / "home"
    store = RunStore(home)
    kept = store.create("rank", {})
    store.finish(kept)
    places, args = CASES[case]
    paths = [home / p if p else home for p in places]
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        if can_write(paths[0]):
            pytest.skip("this process cannot give up its power to write to read-only files")
        proc = subprocess.run(
            [sys.executable, "-m", "transferkit", *[a.format(run=kept) for a in args]],
            env=child_env(home),
            capture_output=True,
            text=True,
            timeout=300,
            preexec_fn=as_ordinary_user,
        )
    finally:
        for p in paths:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "write" in line and "TRANSFERKIT_HOME" in line and str(home) in line, line
    assert [r.id for r in store.list(limit=None)] == [kept]  # nothing changed
    assert store.get(kept).status == "done" and (store.runs_dir / kept).is_dir()


WRITER = """
import sys
from pathlib import Path
from transferkit.store import RunStore
from transferkit.store.artifacts import atomic_write_json
store, w, n = RunStore(Path(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
for j in range(n):
    run = store.create("rank", {"writer": w, "j": j}, seed=j)
    atomic_write_json(store.artifact_dir(run) / "result.json", {"writer": w, "j": j})
    store.update(run, metrics={"j": j})
    store.finish(run, metrics={"writer": w})
    if j == 0:
        print("first run done", flush=True)
"""
WRITERS, RUNS_EACH = 4, 60


def test_concurrent_writers_lose_no_run_while_one_is_killed(tmp_path, request):
    home, rng = tmp_path / "home", seeded_rng(request.node.name)
    RunStore(home)

    def writer(w: int, n: int) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), str(w), str(n)],
            env=child_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    victim = writer(WRITERS, 10_000)
    procs = [writer(w, RUNS_EACH) for w in range(WRITERS)]
    for p in [victim, *procs]:
        assert p.stdout.readline().strip() == "first run done"  # everyone is writing now
    time.sleep(float(rng.uniform(0.0, 0.3)))
    assert all(p.poll() is None for p in procs), "the other writers finished before the kill"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert integrity(home) == "ok"
    recs = RunStore(home).list(limit=None)
    mine = [r for r in recs if r.config["writer"] < WRITERS]
    assert sorted((r.config["writer"], r.config["j"]) for r in mine) == [
        (w, j) for w in range(WRITERS) for j in range(RUNS_EACH)
    ]
    assert all(
        r.status == "done" and r.metrics == {"j": r.seed, "writer": r.config["writer"]}
        for r in mine
    )
    killed = [r for r in recs if r.config["writer"] == WRITERS]
    assert killed, "the killed writer had not recorded anything yet"
    assert {r.status for r in killed} <= {"done", "interrupted"}
    assert sum(r.status == "interrupted" for r in killed) <= 1  # at most the one in progress
    assert verify(home)["ok"], verify(home)
    code, _, err = run(["runs", "list", "--limit", "1"], home)
    assert code == 0, err
