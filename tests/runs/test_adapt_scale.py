"""`transferkit adapt` at scale: under a real `torchrun` (2 processes, gloo), and killed by a
real SIGTERM mid-run then continued with `--resume` (real subprocesses, real store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from adapt_data import write_domains
from conftest import run_cli, run_torchrun

from transferkit.store import RunStore

TINY = [
    "--model",
    "tiny-cnn",
    "--image-size",
    "8",
    "--batch-size",
    "8",
    "--hidden",
    "16",
    "--embed-points",
    "0",
    "--selection-examples",
    "24",
    "--target-labels-for-eval",
    "--json",
]


@pytest.mark.slow
def test_adapt_under_torchrun_records_once_and_agrees_with_one_process(tmp_path, tk_home):
    src, tgt = write_domains(tmp_path, n_source=40, n_target=30)
    args = [
        "adapt",
        "--source",
        src,
        "--target",
        tgt,
        "--method",
        "source-only,coral",
        "--trade-off",
        "1",
        "--epochs",
        "2",
        "--no-augment",
        *TINY,
    ]
    one = json.loads(run_cli(*args, check=0, env_extra={"OMP_NUM_THREADS": "1"}).stdout)
    p = run_torchrun(*args)
    assert p.returncode == 0, p.stderr[-3000:]
    two = json.loads(p.stdout)  # rank 0 alone prints
    assert two["run"] != one["run"] and two["chosen"] in ("source-only", "coral@1")
    store = RunStore()
    assert len(store.list(kind="adapt", limit=None)) == 2  # one record per command, not process
    members = [m for m in store.list(kind="adapt-member", limit=None) if m.parent == two["run"]]
    assert len(members) == 2 and all(m.status == "done" for m in members)
    assert store.get(two["run"]).extra["world_size"] == 2
    # the same global batches and averaged gradients; BatchNorm batches are per process
    for r1, r2 in zip(one["table"], two["table"]):
        assert r1["candidate"] == r2["candidate"]
        assert abs(r1["source_val_accuracy"] - r2["source_val_accuracy"]) <= 0.2
        assert 0 <= r2["target_accuracy"] <= 1


@pytest.mark.slow
def test_adapt_killed_mid_run_resumes_to_the_uninterrupted_result(tmp_path, tk_home):
    src, tgt = write_domains(tmp_path, n_source=60, n_target=40)
    args = [
        "adapt",
        "--source",
        src,
        "--target",
        tgt,
        "--method",
        "source-only,mcc",
        "--trade-off",
        "1",
        "--epochs",
        "12",
        "--patience",
        "100",
        *TINY,
    ]
    one = {"OMP_NUM_THREADS": "1"}  # the same threads in every process: the same arithmetic
    env = {**os.environ, **one}
    proc = subprocess.Popen(
        [sys.executable, "-m", "transferkit", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs, deadline, hit = tk_home / "runs", time.time() + 300, False
    while time.time() < deadline and proc.poll() is None:
        # the first member saved its model (a finished run then drops its checkpoints) and the
        # second (mcc), still training, has written a checkpoint
        saved = (
            {p.parent.parent for p in runs.glob("*/model/model.json")} if runs.exists() else set()
        )
        training = {p.parent.parent for p in runs.glob("*/checkpoints/last.json")} - saved
        if saved and training:
            hit = True
            break
        time.sleep(0.02)
    assert hit, "the second member never wrote a checkpoint"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "transferkit adapt --resume" in err
    store = RunStore()
    parent = store.list(kind="adapt", limit=None)[0]
    assert parent.status == "interrupted"
    kids = {m.config["method"]: m for m in store.list(kind="adapt-member", limit=None)}
    assert kids["source-only"].status == "done" and kids["mcc"].status == "interrupted"

    resumed = json.loads(
        run_cli("adapt", "--resume", parent.id, "--json", check=0, env_extra=one).stdout
    )
    assert resumed["run"] == parent.id and store.get(parent.id).status == "done"
    # no member was trained twice: the finished one was loaded, the other continued
    assert len(store.list(kind="adapt-member", limit=None)) == 2
    fresh = json.loads(run_cli(*args, check=0, env_extra=one).stdout)
    assert fresh["chosen"] == resumed["chosen"]
    for a, b in zip(resumed["table"], fresh["table"]):
        assert a["candidate"] == b["candidate"]
        assert a["target_accuracy"] == b["target_accuracy"]
        assert a["selection_score"] == b["selection_score"]

    again = run_cli("adapt", "--resume", parent.id, check=2)
    assert "only an unfinished adapt run" in again.stderr
