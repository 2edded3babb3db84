"""The rules that turn the search's rows into one choice (validation only)."""

from __future__ import annotations

import pytest

from transferkit.errors import UserError
from transferkit.search.choose import choose, leaderboard


def trial(n: int, val: float, nll: float | None, seconds: float = 10.0) -> dict:
    return {
        "kind": "trial",
        "trial": n,
        "state": "complete",
        "model": "m",
        "strategy": "finetune",
        "val": val,
        "n_val": 20,
        "val_nll": nll,
        "seconds": seconds,
        "run": f"r{n}",
    }


def cheap(val: float, nll: float | None = 0.5) -> dict:
    return {
        "kind": "cheap",
        "state": "complete",
        "model": "m",
        "strategy": "linear",
        "val": val,
        "n_val": 20,
        "val_nll": nll,
        "seconds": 1.0,
        "run": "rc",
    }


def test_a_tie_in_validation_accuracy_goes_to_the_lower_validation_log_loss():
    # the faster trial comes first in the list; the slower one has the lower log-loss
    rows = [
        cheap(0.6),
        trial(1, 1.0, 0.40, seconds=5.0),
        trial(2, 1.0, 0.05, seconds=50.0),
        trial(3, 0.95, 0.01),
    ]
    chosen, why = choose(leaderboard(rows))
    assert chosen["trial"] == 2, why
    assert [r.get("trial") for r in leaderboard(rows)][:3] == [2, 1, 3]


def test_accuracy_still_comes_before_log_loss():
    chosen, _ = choose(leaderboard([cheap(0.5), trial(1, 0.9, 2.0), trial(2, 0.85, 0.01)]))
    assert chosen["trial"] == 1


def test_rows_without_log_loss_fall_back_to_the_faster_run():
    rows = [
        cheap(0.5),
        trial(1, 1.0, None, seconds=30.0),
        trial(2, 1.0, None, seconds=3.0),
        trial(3, 1.0, 0.9, seconds=60.0),
    ]
    chosen, _ = choose(leaderboard(rows))
    assert chosen["trial"] == 3  # a known log-loss beats an unknown one
    chosen, _ = choose(leaderboard(rows[:3]))
    assert chosen["trial"] == 2


def test_a_trial_must_beat_the_best_cheap_strategy_by_one_standard_error():
    # 0.85 + sqrt(0.85 * 0.15 / 20) = 0.93: a trial at 0.90 is not enough, 0.95 is
    chosen, why = choose(leaderboard([cheap(0.85), trial(1, 0.90, 0.1)]))
    assert chosen["kind"] == "cheap" and "not ahead" in why
    chosen, _ = choose(leaderboard([cheap(0.85), trial(1, 0.95, 0.1)]))
    assert chosen["kind"] == "trial"


def test_every_row_failed_is_a_user_error_that_lists_the_failures():
    rows = [
        {
            "kind": "trial",
            "trial": 0,
            "state": "failed",
            "model": "m",
            "strategy": "finetune",
            "reason": "out of memory",
        }
    ]
    with pytest.raises(UserError, match="out of memory"):
        choose(leaderboard(rows))
