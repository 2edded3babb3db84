"""The search's time budget: parsing what a user types after ``--budget``, and the clock that
keeps the account (time spent before a resume, time per stage)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.errors import UserError
from transferkit.search.budget import Clock, parse_budget


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
    clock = Clock(60, spent=20.0)
    assert clock.budget_s == 60.0
    assert 20.0 <= clock.elapsed() < 21.0
    assert 39.0 < clock.left() <= 40.0
    assert clock.stages == {}


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
