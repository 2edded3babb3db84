"""Shared test set-up: offline, quiet, and a fresh run store per test."""

from __future__ import annotations

import os
import subprocess
import sys
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
    proc = subprocess.run([sys.executable, "-m", "transferkit", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_torchrun(*args: str, nproc: int = 2, timeout: int = 600):
    """Run `torchrun --standalone --nproc-per-node NPROC -m transferkit ARGS` (gloo on CPU, one
    thread per process) in a real subprocess; returns CompletedProcess."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           str(nproc), "-m", "transferkit", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


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
