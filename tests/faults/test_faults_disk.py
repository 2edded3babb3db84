"""A full disk, for real: the child runs under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored),
so its writes fail with EFBIG exactly as they would on a full disk. A checkpoint that cannot be
written, and a store that cannot be written, each give one paragraph of error and exit code 2;
the previous checkpoint is kept byte for byte, and the run resumes to the reference result once
there is room."""

from __future__ import annotations

import resource
import signal
import time
from pathlib import Path

import pytest
from faultcheck import temp_files, verify
from faultfixtures import flows, references
from faultkit import outcome, run, start

from transferkit.store import RunStore


def _file_size_limit(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _one_paragraph_error(err: str, *words: str) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for w in words:
        assert w in errors[0], (w, errors[0])
    return errors[0]


def _killed_after_first_checkpoint(args: list[str], home: Path) -> Path:
    """Run ``args`` and SIGKILL it as soon as its first checkpoint is complete."""
    proc = start(args, home)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        found = list((home / "runs").glob("*/checkpoints/last.json"))
        if found:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before its first checkpoint"
    return found[0].parent


@pytest.mark.slow
def test_full_disk_while_checkpointing_keeps_the_last_checkpoint(tmp_path):
    wf, home = flows()["fit"], tmp_path / "home"
    refs = references().start("fit")  # the reference runs meanwhile
    ckpt = _killed_after_first_checkpoint(wf.args, home)
    run_id = ckpt.parent.name
    before = {n: (ckpt / n).read_bytes() for n in ("last.safetensors", "last.json")}
    # The next last.safetensors is larger (its history grows): it cannot be written; smaller
    # files (best.safetensors, the store) still can.
    limit = len(before["last.safetensors"]) - 1
    code, _, err = run(
        ["fit", "--resume", run_id, "--json"], home, preexec_fn=_file_size_limit(limit)
    )
    assert code == 2, err
    _one_paragraph_error(err, "last.safetensors", "File too large", "free space", "--resume")
    assert {n: (ckpt / n).read_bytes() for n in before} == before
    assert temp_files(home) == []
    rec = RunStore(home).get(run_id)
    assert rec.status == "failed" and "File too large" in rec.error
    assert verify(home)["ok"], verify(home)
    code, _, err = run(["fit", "--resume", run_id, "--json"], home)  # room again
    assert code == 0, err
    assert RunStore(home).get(run_id).status == "done"
    assert outcome(home, wf) == refs["fit"].outcome
    assert verify(home)["ok"]


@pytest.mark.slow
def test_full_disk_while_writing_the_store_changes_nothing(tmp_path):
    home = tmp_path / "home"
    store = RunStore(home)
    kept = store.create("rank", {"kept": True})
    (store.artifact_dir(kept) / "history.json").write_text("[]")
    store.finish(kept, metrics={"test_accuracy": 0.5})
    full = _file_size_limit(1000)  # below one SQLite page of the write-ahead log
    code, _, err = run(["runs", "delete", kept], home, preexec_fn=full)
    assert code == 2
    _one_paragraph_error(err, "store.db", "disk is full", "free space")
    assert store.get(kept).status == "done"  # neither the record nor its folder went away
    assert (store.runs_dir / kept / "history.json").read_text() == "[]"
    code, _, err = run(flows()["fit"].args, home, preexec_fn=full)
    assert code == 2
    _one_paragraph_error(err, "store.db", "disk is full")
    assert [r.id for r in store.list(limit=None)] == [kept]
    assert sorted(p.name for p in store.runs_dir.iterdir()) == [kept]
    assert verify(home)["ok"], verify(home)
    code, out, err = run(["runs", "delete", kept], home)  # room again
    assert code == 0, err
    assert store.list(limit=None) == []
