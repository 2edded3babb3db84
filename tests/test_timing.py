"""Stage timing: exclusive nesting, the totals of a real fit run, and what `runs show` prints."""

from __future__ import annotations

import time

import pytest
from conftest import run_cli

import transferkit
from transferkit.store import RunStore
from transferkit.timing import collect, ordered, stage, untimed


def test_nested_stages_are_counted_once_and_add_up_to_the_total():
    with collect() as stages:
        with stage("train"):
            time.sleep(0.05)
            with stage("validate"):
                time.sleep(0.03)
        with stage("train"):
            time.sleep(0.02)
        time.sleep(0.02)
    t = stages.timings()
    assert t["validate"] == pytest.approx(0.03, abs=0.02)
    assert t["train"] == pytest.approx(0.07, abs=0.03)  # the nested validation left out
    assert t["other"] == pytest.approx(0.02, abs=0.02)
    assert t["train"] + t["validate"] + t["other"] == pytest.approx(t["total"], abs=1e-3)
    assert [k for k, _ in ordered(t)] == ["train", "validate", "other"]


def test_stage_without_a_collector_records_nothing_and_an_inner_collector_hides_its_stages():
    with stage("train"):  # no collector: a no-op
        pass
    with collect() as outer:
        with collect() as inner:
            with stage("probe"):
                pass
        with stage("store"):
            pass
    assert "probe" in inner.seconds and "probe" not in outer.seconds
    assert list(outer.seconds) == ["store"]


def test_ordered_puts_known_stages_first_and_other_last():
    got = [k for k, _ in ordered({"total": 9, "other": 1, "zz": 1, "train": 2, "load": 3})]
    assert got == ["load", "train", "zz", "other"]


def test_ordered_puts_a_resumed_searchs_earlier_calls_first_in_order():
    t = {"test": 1, "before interruption 10": 2, "trials": 3, "before interruption 2": 4}
    got = [k for k, _ in ordered({**t, "other": 1})]
    assert got == ["before interruption 2", "before interruption 10", "test", "trials", "other"]


def test_a_fit_run_records_where_its_time_went(tk_home):
    r = transferkit.fit(
        "builtin:digits",
        model="tiny-cnn",
        strategy="finetune",
        epochs=2,
        labels_per_class=10,
        image_size=8,
    )
    t = RunStore().get(r.run_id).timings
    for name in (
        "load",
        "extract",
        "probe",
        "batchnorm",
        "train",
        "validate",
        "checkpoint",
        "test",
        "store",
    ):
        assert t[name] >= 0, name
    assert t["train"] > 0 and t["total"] > 0
    parts = sum(v for k, v in t.items() if k != "total")
    assert parts == pytest.approx(t["total"], rel=0.02, abs=0.01)
    assert all(h["time_train"] > 0 for h in r.history)
    assert untimed(r.history)[0].keys() == r.history[0].keys() - {"time_train", "time_validate"}
    shown = run_cli("runs", "show", r.run_id).stdout
    assert "time: " in shown and "train " in shown and "per epoch" in shown
