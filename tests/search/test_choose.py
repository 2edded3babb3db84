"""The rules that turn the search's rows into one choice, by validation only: the leaderboard's
order, the tie on log-loss, the one-standard-error rule between trials and cheap strategies,
and what happens when nothing completed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.errors import UserError
from transferkit.search.choose import choose, leaderboard, standard_error


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


def test_an_empty_leaderboard_says_no_configuration_ran_and_what_to_do():
    with pytest.raises(UserError, match="ran no configuration.*Add linear to --strategies"):
        choose(leaderboard([]))


def test_rows_skipped_for_time_are_listed_with_their_reason():
    skipped = {**cheap(0.0), "state": "skipped", "reason": "not run: the budget left is kept"}
    del skipped["val"]
    with pytest.raises(UserError, match="m linear: not run: the budget left is kept"):
        choose(leaderboard([skipped]))


def test_a_row_complete_without_a_validation_score_is_not_chosen():
    unscored = {**trial(1, 0.0, 0.1), "val": None}
    chosen, _ = choose(leaderboard([unscored, cheap(0.3)]))
    assert chosen["kind"] == "cheap"
    with pytest.raises(UserError):
        choose(leaderboard([unscored]))


def test_only_cheap_strategies_choose_by_cross_validation_when_the_stage_computed_it():
    # on a tiny validation split the cheap stage adds "cv": the choice follows it, not "val"
    a = {**cheap(0.90), "model": "a", "cv": 0.70, "run": "ra"}
    b = {**cheap(0.80), "model": "b", "cv": 0.85, "run": "rb"}
    chosen, why = choose(leaderboard([a, b]))
    assert chosen["run"] == "rb"
    assert "cross-validated 0.8500" in why and "no trial completed" in why


def test_only_trials_choose_the_best_trial_by_validation():
    chosen, why = choose(leaderboard([trial(1, 0.7, 0.3), trial(2, 0.8, 0.9)]))
    assert chosen["trial"] == 2 and "the best trial by validation" in why


def test_without_a_validation_size_a_trial_never_displaces_the_cheap_strategy():
    # n_val unknown: the standard error is taken as 1, more than any accuracy gap
    lucky = {**trial(1, 1.0, 0.01), "n_val": None}
    chosen, why = choose(leaderboard([cheap(0.1), lucky]))
    assert chosen["kind"] == "cheap" and "(1.0000)" in why


def test_the_standard_error_is_that_of_a_proportion():
    assert standard_error(0.5, 100) == pytest.approx(0.05)
    assert standard_error(1.0, 20) == 0.0  # a perfect score on n examples
    assert standard_error(0.3, 0) == 1.0  # no examples: no evidence


def test_the_leaderboard_puts_completed_rows_first_by_score_and_keeps_the_rest_in_order():
    failed = {**trial(7, 0.0, None), "state": "failed", "reason": "boom"}
    pruned = {**trial(8, 0.0, None), "state": "pruned"}
    rows = [failed, cheap(0.5), pruned, trial(1, 0.9, 0.2), {**cheap(0.6), "cv": 0.95}]
    board = leaderboard(rows)
    assert [r["score"] for r in board[:3]] == [0.95, 0.9, 0.5]
    assert [r.get("trial") for r in board[3:]] == [7, 8]
    low, high = board[0]["val_low"], board[0]["val_high"]
    assert low < 0.6 < high  # the interval is of the validation score, not of the cv
    assert "score" not in rows[1] and "val_low" not in rows[3]  # the input rows are untouched


def _key(row: dict) -> tuple:
    """What the rules look at: rows of one kind with the same key are a tie nothing breaks."""
    score = row["cv"] if row.get("cv") is not None else row["val"]
    return (row["kind"], score, row["val_nll"], row["seconds"])


_rows = st.lists(
    st.builds(
        lambda kind, val, cv, nll, seconds, n_val: {
            "kind": kind,
            "state": "complete",
            "model": "m",
            "strategy": "linear" if kind == "cheap" else "finetune",
            "trial": None if kind == "cheap" else 0,
            "val": val,
            **({"cv": cv} if cv is not None and kind == "cheap" else {}),
            "val_nll": nll,
            "seconds": seconds,
            "n_val": n_val,
        },
        st.sampled_from(["cheap", "trial"]),
        st.sampled_from([0.5, 0.6, 0.75, 0.8, 0.9, 1.0]),
        st.one_of(st.none(), st.sampled_from([0.55, 0.85, 0.95])),
        st.one_of(st.none(), st.sampled_from([0.05, 0.3, 1.2])),
        st.sampled_from([1.0, 5.0, 30.0]),
        st.sampled_from([0, 10, 40, 400]),
    ),
    min_size=1,
    max_size=8,
    unique_by=_key,
)


@settings(max_examples=300, deadline=None)
@given(rows=_rows, order=st.randoms(use_true_random=False))
def test_the_choice_and_the_leaderboard_do_not_depend_on_the_order_of_the_rows(rows, order):
    for i, r in enumerate(rows):
        r["run"] = f"r{i}"
        if r["kind"] == "trial":
            r["trial"] = i
    shuffled = list(rows)
    order.shuffle(shuffled)
    chosen, why = choose(leaderboard(rows))
    again, why_again = choose(leaderboard(shuffled))
    assert chosen["run"] == again["run"] and why == why_again
    # rows the rules cannot tell apart (same score, log-loss and time) keep their given order
    order_of = [(r["score"], r["val_nll"], r["seconds"]) for r in leaderboard(rows)]
    assert order_of == [(r["score"], r["val_nll"], r["seconds"]) for r in leaderboard(shuffled)]


@settings(max_examples=300, deadline=None)
@given(rows=_rows)
def test_a_trial_is_chosen_only_when_it_beats_every_cheap_strategy_by_one_standard_error(rows):
    for i, r in enumerate(rows):
        r["run"] = f"r{i}"
    chosen, _ = choose(leaderboard(rows))
    board = leaderboard(rows)
    cheap_rows = [r for r in board if r["kind"] == "cheap"]
    if chosen["kind"] == "trial" and cheap_rows:
        best_cheap = cheap_rows[0]  # the leaderboard's first cheap row is the best one
        se = standard_error(best_cheap["val"], int(chosen["n_val"] or 0))
        assert chosen["val"] > best_cheap["val"] + se
    if chosen["kind"] == "cheap":
        assert chosen["run"] == cheap_rows[0]["run"]
