"""The one recorded-run helper: every workflow creates, beats, finishes or fails through it."""

from __future__ import annotations

import time

import pytest

from transferkit.errors import RunInterrupted, RunPruned, UserError
from transferkit.runs._recorded import RecordedRun, unfinished
from transferkit.store import RunStore, owner


def test_a_block_that_finishes_is_done_with_its_metrics_and_artifacts(tmp_path, monkeypatch):
    monkeypatch.setattr(owner, "HEARTBEAT_S", 0.05)
    store = RunStore(tmp_path / "home")
    with RecordedRun(store, "fit", {"a": 1}, seed=3, data_fingerprint="fp") as run:
        first = store.get(run.id).heartbeat
        run.note(dataset={"name": "x"})
        run.write_json("history.json", [{"epoch": 1}])
        time.sleep(0.3)  # the heartbeat thread beats meanwhile
        assert store.get(run.id).heartbeat > first and store.get(run.id).status == "running"
        run.finish({"acc": 0.5}, {"total": 1.0}, table=[1, 2])
    rec = store.get(run.id)
    assert (rec.status, rec.seed, rec.data_fingerprint, rec.metrics) == (
        "done",
        3,
        "fp",
        {"acc": 0.5},
    )
    assert rec.extra == {"dataset": {"name": "x"}, "table": [1, 2]}
    assert (run.dir / "history.json").is_file()
    assert not [p for p in run.dir.iterdir() if p.name.startswith(".")]  # no temporary files


@pytest.mark.parametrize(
    "error, status",
    [
        (UserError("bad data"), "failed"),
        (ValueError("boom"), "failed"),
        (RunInterrupted("signal 15"), "interrupted"),
        (KeyboardInterrupt(), "interrupted"),
        (RunPruned("pruned after epoch 1"), "pruned"),
    ],
)
def test_an_exception_marks_the_run_and_is_raised_again(tmp_path, error, status):
    store = RunStore(tmp_path / "home")
    with pytest.raises(type(error)) as caught:
        with RecordedRun(store, "pretrain", {}) as run:
            raise error
    rec = store.get(run.id)
    assert rec.status == status
    if status in ("failed", "pruned"):
        assert str(error) in rec.error
    else:
        assert caught.value.run_id == run.id  # for the resume hint


def test_resume_takes_over_the_same_record(tmp_path):
    store = RunStore(tmp_path / "home")
    with pytest.raises(RunInterrupted):
        with RecordedRun(store, "fit", {"a": 1}) as first:
            raise RunInterrupted("stop")
    with RecordedRun(store, "fit", {"a": 1}, resume=first.id[:14]) as again:
        again.finish({"acc": 1.0})
    assert again.id == first.id and store.get(first.id).status == "done"
    assert len(store.list()) == 1


def test_only_an_unfinished_run_of_the_kind_is_resumable(tmp_path):
    store = RunStore(tmp_path / "home")
    with pytest.raises(RunInterrupted):
        with RecordedRun(store, "pretrain", {"arch": "cnn-small"}) as killed:
            raise RunInterrupted("stop")
    with RecordedRun(store, "pretrain", {"arch": "cnn-small"}) as finished:
        finished.finish({})
    assert unfinished(store, killed.id, "pretrain").config == {"arch": "cnn-small"}
    with pytest.raises(
        UserError, match="is a pretrain run that is done; only an unfinished pretrain"
    ):
        unfinished(store, finished.id, "pretrain")
    with pytest.raises(
        UserError, match="is a pretrain run that is interrupted; only an unfinished adapt"
    ):
        unfinished(store, killed.id, "adapt")
