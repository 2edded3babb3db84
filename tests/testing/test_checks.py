"""How the public checks report, and what they leave behind: an unknown name or an unregistered
class is refused saying how to register it, a plug-in's crash inside a check names the check,
and the caller's random state and torch threads are as they were."""

from __future__ import annotations

import pytest
import torch

from transferkit.testing import check_adaptation, check_score, check_strategy
from transferkit.testing._common import run_checks
from transferkit.transferability import Score


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(AssertionError, match=r"strategy 'no-such' is not registered.*Known"):
        check_strategy("no-such")


def test_an_unregistered_class_is_refused_saying_how_to_register_it():
    class Mine(Score):
        def _score(self, inputs):
            return 0.0

    with pytest.raises(AssertionError, match=r"register it first.*@SCORES\.register"):
        check_score(Mine)


def test_a_crash_inside_a_check_names_the_plug_in_the_check_and_the_error():
    def crash():
        raise KeyError("latent_dim")

    with pytest.raises(AssertionError) as info:
        run_checks("pretraining method", "mine", [("builds", lambda: None), ("steps", crash)])
    assert str(info.value) == (
        "pretraining method 'mine' fails the check 'steps': it raised KeyError: 'latent_dim'"
    )
    assert isinstance(info.value.__cause__, KeyError)


def test_the_callers_random_state_and_threads_are_kept():
    torch.manual_seed(11)
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    check_adaptation("shallow-source-only")  # seeds torch and builds models inside
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads
