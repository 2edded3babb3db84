"""Shared test set-up: offline, quiet, and a fresh run store per test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from textkit import make_tiny_bert, make_tiny_clip, topic_rows, write_csv

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFERKIT_QUIET"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def tk_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own TRANSFERKIT_HOME (store, runs, feature cache)."""
    home = tmp_path / "tk_home"
    monkeypatch.setenv("TRANSFERKIT_HOME", str(home))
    return home


def run_cli(*args: str, env_extra: dict | None = None, timeout: int = 600, check=None):
    """Run `python -m transferkit ARGS` in a real subprocess; returns CompletedProcess."""
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "transferkit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def kill_at_first_checkpoint_then_resume(args: tuple[str, ...], home: Path, kind: str) -> dict:
    """Run ``transferkit ARGS`` in the store ``home``, SIGKILL it once its first checkpoint is
    on disk, resume the run with ``--resume ID --json``, and return the resumed run's JSON."""
    env = {**os.environ, "TRANSFERKIT_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "transferkit", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not list(home.glob("runs/*/checkpoints/last.json")) and time.time() < deadline:
        assert proc.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    from transferkit.store import RunStore

    run_id = RunStore(home).list(kind=kind)[0].id
    assert RunStore(home).get(run_id).status != "done"
    again = run_cli(kind, "--resume", run_id, "--json", env_extra=env, check=0)
    resumed = json.loads(again.stdout)
    assert resumed["run"] == run_id
    return resumed


def _torchrun(launch: list[str], args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *launch, "-m", "transferkit", *args]


_TORCHRUN_ENV = {"OMP_NUM_THREADS": "1"}  # one thread per process: two of them share two cores


def run_torchrun(*args: str, nproc: int = 2, timeout: int = 600):
    """Run `torchrun --standalone --nproc-per-node NPROC -m transferkit ARGS` (gloo on CPU, one
    thread per process) in a real subprocess; returns CompletedProcess."""
    cmd = _torchrun(["--standalone", "--nproc-per-node", str(nproc)], args)
    env = {**os.environ, **_TORCHRUN_ENV}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_launch(node: int, port: int, nnodes: int = 2, join_timeout: int = 60) -> list[str]:
    """torchrun's options for node NODE of NNODES, one process each, meeting at a c10d
    rendezvous on 127.0.0.1:PORT (node 0 hosts it, as the first machine would)."""
    return [
        "--nnodes",
        str(nnodes),
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        f"tk-{port}",
        "--rdzv-conf",
        f"is_host={int(node == 0)},join_timeout={join_timeout}",
    ]


def start_node(
    *args: str,
    node: int,
    port: int,
    nnodes: int = 2,
    join_timeout: int = 60,
    env_extra: dict | None = None,
    preexec_fn=None,
) -> subprocess.Popen:
    """Start one torchrun "node" (see :func:`node_launch`) running `transferkit ARGS`; its
    output goes to temporary files (a full pipe must not stall one node while the test waits
    for the other), read back by :func:`finish`."""
    env = {**os.environ, **_TORCHRUN_ENV, **(env_extra or {})}
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        _torchrun(node_launch(node, port, nnodes, join_timeout), args),
        stdout=out,
        stderr=err,
        text=True,
        env=env,
        preexec_fn=preexec_fn,
        start_new_session=True,
    )  # its own group: killed with its workers
    proc.outputs = (out, err)  # type: ignore[attr-defined]
    return proc


def finish(procs: list[subprocess.Popen], timeout: int = 600) -> list[subprocess.CompletedProcess]:
    """Wait for every process (all are killed if one runs past ``timeout``); their output."""
    deadline, done = time.monotonic() + timeout, []
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    for p in procs:
        texts = []
        for f in p.outputs:  # type: ignore[attr-defined]
            f.seek(0)
            texts.append(f.read())
            f.close()
        done.append(subprocess.CompletedProcess(p.args, p.returncode, *texts))
    return done


def run_torchrun_nodes(
    *args: str,
    nnodes: int = 2,
    node_env: list[dict] | None = None,
    preexec: list | None = None,
    timeout: int = 600,
) -> list[subprocess.CompletedProcess]:
    """`transferkit ARGS` on NNODES torchrun "nodes" on this host, one process each (gloo): the
    multi-machine launch, on loopback. ``node_env`` / ``preexec`` are per node."""
    port = free_port()
    procs = [
        start_node(
            *args,
            node=n,
            port=port,
            nnodes=nnodes,
            env_extra=(node_env or [{}] * nnodes)[n],
            preexec_fn=(preexec or [None] * nnodes)[n],
        )
        for n in range(nnodes)
    ]
    return finish(procs, timeout)


@pytest.fixture
def cli():
    return run_cli


# Text fixtures: a small topic corpus, and tiny randomly initialised BERT and CLIP models saved
# as local folders with a small WordPiece tokenizer (nothing downloaded). Session-scoped and lazy.
@pytest.fixture(scope="session")
def topics_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("topics") / "topics.csv", topic_rows())


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))
