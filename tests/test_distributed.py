"""The same fit and pretrain under real `torchrun` processes (gloo on CPU) as in one process:
two processes on one host (`--standalone`), and two "nodes" - two torchrun agents meeting at a
c10d rendezvous on loopback, one process each, as on two machines. Then what goes wrong between
nodes (a peer that never joins, an unreachable rendezvous, a store one node cannot write or
does not share): one paragraph and exit code 2 from our processes, within a timeout, and
nothing recorded."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import finish, free_port, run_cli, run_torchrun, run_torchrun_nodes, start_node
from readonly import as_ordinary_user, can_write

import transferkit
from transferkit.store import RunStore

PACKAGE = Path(transferkit.__file__).resolve().parent  # our source, wherever the checkout is

COMMON = [
    "--data",
    "builtin:digits",
    "--model",
    "tiny-cnn",
    "--image-size",
    "16",
    "--labels-per-class",
    "40",
    "--seed",
    "2",
    "--json",
]
FIT = {
    "linear": ("fit", *COMMON, "--strategy", "linear"),
    "finetune": (
        "fit",
        *COMMON,
        "--strategy",
        "finetune",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--no-augment",
        "--head-init",
        "random",
    ),
}
PRETRAIN = (
    "pretrain",
    "--data",
    "builtin:digits",
    "--method",
    "autoencoder",
    "--arch",
    "tiny-cnn",
    "--image-size",
    "16",
    "--max-examples",
    "320",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--no-augment",
    "--seed",
    "0",
    "--json",
)
QUICK = (
    "fit",
    "--data",
    "builtin:digits",
    "--model",
    "tiny-cnn",
    "--strategy",
    "linear",
    "--image-size",
    "8",
    "--labels-per-class",
    "10",
    "--json",
)  # for the refusals
SHORT = "4"  # seconds: TRANSFERKIT_DIST_TIMEOUT in the refusals


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """A command's JSON summary from one process: the reference (each computed once, in a
    store of its own)."""
    home, memo = tmp_path_factory.mktemp("one-process"), {}

    def summary(args: tuple[str, ...]) -> dict:
        if args not in memo:
            p = run_cli(*args, env_extra={"TRANSFERKIT_HOME": str(home)}, check=0)
            memo[args] = json.loads(p.stdout)
        return memo[args]

    return summary


def _launch(how: str, args: tuple[str, ...]) -> dict:
    """``args`` under torchrun, two processes on one host or two nodes; the one summary the job
    printed (rank 0's)."""
    procs = [run_torchrun(*args)] if how == "processes" else run_torchrun_nodes(*args)
    for p in procs:
        assert p.returncode == 0, p.stderr[-3000:]
        # every process left its process group: none aborted in the backend's threads at exit
        assert "terminate called" not in p.stderr, p.stderr[-3000:]
    printed = [p.stdout for p in procs if p.stdout.strip()]
    assert len(printed) == 1, printed
    return json.loads(printed[0])


def _recorded(n: int) -> None:
    runs = json.loads(run_cli("runs", "list", "--json", check=0).stdout)
    assert len(runs) == n  # one record per run, not one per process
    assert all(r["status"] == "done" for r in runs)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["processes", "nodes"])
def test_fit_under_torchrun_matches_one_process(how, one_process):
    lin = _launch(how, FIT["linear"])
    # Linear: sharded extraction + gather, then the same solver: identical.
    assert lin["test_accuracy"] == one_process(FIT["linear"])["test_accuracy"]
    ft = _launch(how, FIT["finetune"])
    # Finetune: the same global batches and averaged gradients; BatchNorm statistics are
    # per process (16 instead of 32 examples), so metrics agree within a tolerance.
    assert abs(ft["test_accuracy"] - one_process(FIT["finetune"])["test_accuracy"]) <= 0.05
    _recorded(2)


@pytest.mark.slow
def test_pretrain_on_two_nodes_matches_one_process(one_process):
    two = _launch("nodes", PRETRAIN)
    one = one_process(PRETRAIN)
    # autoencoder: per-example loss, global batch 32 as 2 x 16, BatchNorm per process
    assert abs(two["val_loss"] - one["val_loss"]) <= 0.05 * one["val_loss"]
    _recorded(1)


# ----------------------------------------------------------------------------- bad inputs
def _our_frames(stderr: str) -> list[str]:
    """The traceback frames in ``stderr`` whose file is in our package's source directory.
    Matched by that directory, not by a name: in a checkout whose folder is named
    ``transferkit`` torchrun's own frames (``.../transferkit/.venv/lib/.../torch/...``) hold
    the name too."""
    paths = re.findall(r'^\s*File "([^"]+)", line \d+', stderr, flags=re.MULTILINE)
    return [f for f in paths if Path(f).resolve().is_relative_to(PACKAGE)]


def test_only_frames_of_our_source_count_as_ours(tmp_path):
    venv_torch = tmp_path / "transferkit" / ".venv" / "lib" / "site-packages" / "torch"
    stderr = (
        "Traceback (most recent call last):\n"
        f'  File "{venv_torch / "distributed" / "run.py"}", line 905, in main\n'
        "    run(args)\n"
        f'  File "{tmp_path / "transferkit" / "tests" / "conftest.py"}", line 3, in <module>\n'
    )
    assert re.search(r'File ".*transferkit/', stderr)  # what this test once looked for
    assert _our_frames(stderr) == []
    ours = PACKAGE / "cli" / "__init__.py"
    assert _our_frames(f'{stderr}  File "{ours}", line 40, in main\n') == [str(ours)]


def _refused(p, *words: str) -> str:
    """Our process stopped with exit code 2 and one paragraph holding ``words``; torchrun
    itself then exits 1 and lists the exit code. No traceback from transferkit."""
    assert p.returncode != 0, p.stderr[-3000:]
    lines = [x for x in p.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1, p.stderr[-3000:]
    assert all(w in lines[0] for w in words), lines[0]
    assert re.search(r"exitcode\s*: 2\b", p.stderr), p.stderr[-3000:]
    assert not _our_frames(p.stderr), p.stderr[-3000:]
    return lines[0]


@pytest.mark.slow
def test_torchrun_alone_gives_up_at_its_join_timeout(tk_home):
    """The first wait is torchrun's own: its agents meet before any process of ours exists,
    and with no second node `--rdzv-conf join_timeout=S` ends it (default 600 s)."""
    t0 = time.monotonic()
    (p,) = finish([start_node(*QUICK, node=0, port=free_port(), join_timeout=3)], timeout=120)
    assert time.monotonic() - t0 < 60
    assert p.returncode != 0 and "RendezvousTimeoutError" in p.stderr
    assert not (tk_home / "store.db").exists()  # transferkit never started


@pytest.mark.slow
def test_a_peer_that_never_joins_is_a_clear_error(tk_home):
    """The agents meet, but the process on the other node fails before it joins (here: a bad
    TRANSFERKIT_DIST_TIMEOUT there): ours waits TRANSFERKIT_DIST_TIMEOUT seconds, then stops."""
    t0 = time.monotonic()
    waiting, broken = run_torchrun_nodes(
        *QUICK,
        timeout=180,
        node_env=[{"TRANSFERKIT_DIST_TIMEOUT": SHORT}, {"TRANSFERKIT_DIST_TIMEOUT": "soon"}],
    )
    assert time.monotonic() - t0 < 90
    line = _refused(
        waiting,
        f"waited {SHORT} s",
        "not all came",
        "same command on every node",
        "TRANSFERKIT_DIST_TIMEOUT",
    )
    assert re.search(r"Process \d of 2", line)
    _refused(broken, "TRANSFERKIT_DIST_TIMEOUT='soon' is not a number of seconds")
    assert RunStore(tk_home).list(limit=None) == []


@pytest.mark.slow
def test_an_unreachable_rendezvous_is_a_clear_error(tk_home):
    """A launcher that leaves the rendezvous to our process (SLURM or mpirun setting RANK,
    WORLD_SIZE, MASTER_ADDR, MASTER_PORT): nobody listens at the address."""
    port = free_port()
    env = {
        "RANK": "1",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "TRANSFERKIT_DIST_TIMEOUT": SHORT,
    }
    t0 = time.monotonic()
    p = run_cli(*QUICK, env_extra=env, timeout=120, check=2)
    assert time.monotonic() - t0 < 60
    (line,) = [x for x in p.stderr.splitlines() if x.startswith("error: ")]
    assert f"could not reach the rendezvous at 127.0.0.1:{port}" in line, line
    assert "Traceback" not in p.stderr
    assert RunStore(tk_home).list(limit=None) == []


@pytest.mark.slow
def test_a_store_one_node_cannot_write_is_refused_everywhere(tk_home):
    """One shared store (on one host: the same folder), read-only for the second node's
    process: every process refuses before training, naming the path; nothing changes."""
    store = RunStore(tk_home)
    kept = store.create("rank", {})
    store.finish(kept)
    places = [tk_home, tk_home / "runs"]
    for place in places:
        place.chmod(0o555)
    try:
        if can_write(tk_home):
            pytest.skip("this process cannot give up its power to write to read-only files")
        procs = run_torchrun_nodes(*QUICK, preexec=[None, as_ordinary_user], timeout=180)
    finally:
        for place in places:
            place.chmod(0o755)
    for p in procs:
        _refused(
            p,
            "run store cannot be used by every process",
            str(tk_home),
            "cannot",
            "TRANSFERKIT_HOME",
            "nothing was recorded",
        )
    assert [r.id for r in store.list(limit=None)] == [kept]
    assert sorted(x.name for x in (tk_home / "runs").iterdir()) == [kept]


@pytest.mark.slow
def test_a_store_per_node_is_refused_everywhere(tmp_path):
    """Each node with a store of its own: the others could not read rank 0's checkpoints."""
    homes = [tmp_path / "node0", tmp_path / "node1"]
    procs = run_torchrun_nodes(
        *QUICK,
        timeout=180,
        node_env=[{"TRANSFERKIT_HOME": str(h), "TRANSFERKIT_DIST_TIMEOUT": SHORT} for h in homes],
    )
    for p in procs:
        _refused(p, "does not see rank 0's store", "shared file system", "TRANSFERKIT_HOME")
    assert all(RunStore(h).list(limit=None) == [] for h in homes)
