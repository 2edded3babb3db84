"""The search's time budget: parsing what a user types after ``--budget``, and the clock that
keeps the account (the budget is the total of every call: time spent before each resume, time
per stage)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.errors import UserError
from transferkit.search.budget import Clock, calls_before, parse_budget, save_every


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2m30s", 150.0),
        (" 15M ", 900.0),  # case and surrounding spaces do not matter
        ("1h 30m", 5400.0),
        ("120", 120.0),  # a plain number is seconds
        ("0.5", 0.5),
        (45, 45.0),
        (2.5, 2.5),
    ],
)
def test_a_duration_is_read_as_seconds(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["abc", "", "15x", "1m30", "m", "15 minutes", "-5m", "1h-30m", "5m!", True],
)
def test_what_is_not_a_duration_is_a_user_error_with_an_example(text):
    with pytest.raises(UserError, match=r"--budget .*not a duration; write e\.g\. 90s, 15m"):
        parse_budget(text)


@pytest.mark.parametrize("text", ["0", "0s", "0h0m", "-5", -5, 0, "nan", "inf", float("inf")])
def test_a_budget_that_is_not_positive_and_finite_is_a_user_error_with_an_example(text):
    with pytest.raises(UserError, match=r"positive, finite duration.*write e\.g\. 90s"):
        parse_budget(text)


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(0, 99),
    m=st.integers(0, 59),
    s=st.integers(0, 59),
    parts=st.sets(st.sampled_from("hms"), min_size=1),
)
def test_hours_minutes_and_seconds_add_up(h, m, s, parts):
    """Any of ``XhYmZs`` with the units given in order reads as their sum."""
    values = {"h": h, "m": m, "s": s}
    text = "".join(f"{values[u]}{u}" for u in "hms" if u in parts)
    expected = sum(values[u] * {"h": 3600, "m": 60, "s": 1}[u] for u in parts)
    if expected == 0:
        with pytest.raises(UserError):
            parse_budget(text)
    else:
        assert parse_budget(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_a_number_of_seconds_reads_back_the_same_as_text_or_number(seconds):
    assert parse_budget(repr(seconds)) == parse_budget(seconds) == seconds
    assert parse_budget(f"{seconds:.3f}s") == pytest.approx(round(seconds, 3), abs=1e-9)


def test_the_clock_counts_the_time_spent_before_a_resume():
    clock = Clock(60, before=[20.0])
    assert clock.budget_s == 60.0 and clock.before == [20.0]
    assert 20.0 <= clock.elapsed() < 21.0
    assert 39.0 < clock.left() <= 40.0
    assert clock.this_call() < 1.0
    assert clock.stages == {}


def test_the_budget_is_the_total_of_every_call_across_two_interruptions():
    # call 1 spent 100 s and was killed; call 2 read that back, spent 50 s and was killed
    first = {"budget_account": {"budget_s": 180.0, "before": [], "this_call": 100.0}}
    assert calls_before(first) == [100.0]
    second = {"budget_account": {"budget_s": 180.0, "before": [100.0], "this_call": 50.0}}
    assert calls_before(second) == [100.0, 50.0]
    third = Clock(180, calls_before(second))
    assert 29.0 < third.left() <= 30.0  # 180 - 100 - 50, not the whole 180 again
    assert third.account()["before"] == [100.0, 50.0]


def test_what_a_call_saves_reads_back_as_one_more_earlier_call():
    clock = Clock(90, before=[12.5])
    time.sleep(0.05)
    saved = {"budget_account": clock.account(), "elapsed": 999.0}  # the account wins
    before = calls_before(saved)
    assert before[0] == 12.5 and 0.05 <= before[1] < 1.0
    assert Clock(90, before).elapsed() >= 12.55


def test_a_record_without_an_account_counts_its_elapsed_as_one_call():
    assert calls_before({}) == []  # a new search
    assert calls_before({"elapsed": 0.0}) == []
    assert calls_before({"elapsed": 42.0, "stages": {"rank": 40.0}}) == [42.0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1e5, allow_nan=False), max_size=6), st.floats(1.0, 1e6))
def test_each_resume_adds_exactly_the_time_of_the_call_before_it(calls, budget):
    """Chaining accounts call after call keeps every call's seconds, in order, and the
    budget left is the budget less their sum."""
    saved: dict = {}
    for seconds in calls:
        before = calls_before(saved)
        saved = {"budget_account": {"budget_s": budget, "before": before, "this_call": seconds}}
    before = calls_before(saved)
    assert before == [float(s) for s in calls]
    clock = Clock(budget, before)
    assert clock.left() == pytest.approx(budget - sum(calls), abs=1.0)


def test_the_timings_name_each_earlier_call_and_add_up_to_the_total():
    clock = Clock(100, before=[30.0, 20.0])
    with clock.stage("trials"):
        time.sleep(0.02)
    t = clock.timings()
    assert t["before interruption 1"] == 30.0 and t["before interruption 2"] == 20.0
    assert t["trials"] >= 0.02
    parts = sum(v for k, v in t.items() if k != "total")
    assert parts == pytest.approx(t["total"], abs=1e-3)
    assert t["total"] == pytest.approx(clock.elapsed(), abs=0.05)
    words = clock.summary()
    assert words.startswith("100 s budget: 30 s before interruption 1, 20 s before interruption 2")
    assert words.endswith("50 s left")


@pytest.mark.parametrize("budget, every", [(5, 1.0), (60, 1.0), (180, 3.0), (3600, 10.0)])
def test_the_account_is_saved_often_enough_that_a_kill_loses_little(budget, every):
    assert save_every(budget) == every
    assert save_every(budget) <= max(1.0, budget / 50)  # under 2% of a budget of a minute


def test_the_clock_adds_up_each_stage_also_when_it_fails():
    clock = Clock(10)
    with clock.stage("rank"):
        time.sleep(0.02)
    with pytest.raises(RuntimeError), clock.stage("rank"):
        time.sleep(0.02)
        raise RuntimeError("a stage that fails still took its time")
    with clock.stage("cheap"):
        pass
    assert set(clock.stages) == {"rank", "cheap"}
    assert clock.stages["rank"] >= 0.04
    assert clock.stages["cheap"] < clock.stages["rank"]
    assert sum(clock.stages.values()) <= clock.elapsed()
    assert clock.left() == pytest.approx(10 - clock.elapsed(), abs=1e-3)
