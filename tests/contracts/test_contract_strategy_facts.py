"""The facts every registered strategy declares for the search, ``explain`` and the reports
(:class:`~transferkit.strategies.Strategy`): valid types and values, checked by
:func:`transferkit.testing.check_strategy_facts` (also run by ``check_strategy``); and a strategy defined in a test, with no other edit, is searched,
explained and reported like the built-in ones."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from transferkit.report.explain import changes_the_source, what_transferred
from transferkit.runs.explain.transfer import _source_of
from transferkit.search import space
from transferkit.search.space import ModelInfo, SearchSpace
from transferkit.store import RunRecord
from transferkit.strategies import STRATEGIES
from transferkit.strategies.finetune import FineTune
from transferkit.testing import check_strategy_facts

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_every_registered_strategy_declares_valid_facts(strategy):
    check_strategy_facts(STRATEGIES.get(strategy))


def test_search_orders_are_distinct_among_searched_strategies():
    """Two searched strategies at one place would be ordered by name alone, by accident."""
    searched = [n for n in STRATEGIES.list() if STRATEGIES.get(n).search_role]
    assert len(searched) >= 4
    assert len({STRATEGIES.get(n).search_order for n in searched}) == len(searched)


def test_the_check_fails_on_a_strategy_with_wrong_facts():
    class Broken(FineTune):
        search_lr = {"image": (1e-2, 1e-1), "text": (1e-5, 5e-4)}  # image default 1e-3 below

    Broken.name = "broken"
    with pytest.raises(AssertionError, match="outside its search range"):
        check_strategy_facts(Broken)
    Broken.search_lr, Broken.search_role = FineTune.search_lr, "expensive"
    with pytest.raises(AssertionError, match="search_role"):
        check_strategy_facts(Broken)


# -- a new strategy file, with no other edit --------------------------------------------------
class Partial(FineTune):
    """A new trained strategy: fine-tuning searched over its own learning-rate range (it
    shares finetune's ``unfreeze`` choices: one Optuna parameter keeps one set of choices)."""

    searched_for = ("image",)
    search_order = 45  # after finetune, before scratch
    search_lr = {"image": (2e-4, 2e-2), "text": (2e-5, 5e-4)}


class Fresh(FineTune):
    """A new strategy from fresh weights (not searched by default)."""

    pretrained = False
    searched_for = ()
    search_order = 75


@pytest.fixture
def new_strategies():
    """``partial`` and ``fresh`` registered for one test, and removed after it."""
    STRATEGIES.register("partial", Partial)
    STRATEGIES.register("fresh", Fresh)
    try:
        yield
    finally:
        STRATEGIES.unregister("partial")
        STRATEGIES.unregister("fresh")
    assert "partial" not in STRATEGIES and "fresh" not in STRATEGIES


def _fit_record(strategy: str, **extra: Any) -> RunRecord:
    return RunRecord(
        "r1",
        "fit",
        "done",
        "",
        "",
        config={"strategy": strategy, "model": "tiny-cnn"},
        extra=extra,
    )


def test_a_new_strategy_is_searched_with_no_other_edit(new_strategies):
    check_strategy_facts(Partial)
    check_strategy_facts(Fresh)
    assert space.default_strategies("image") == ("linear", "finetune", "partial", "scratch")
    assert space.default_strategies("text") == (
        "linear",
        "zeroshot",
        "prototypes",
        "finetune",
        "lora",
        "contrastive",
    )
    assert space.trained_strategies() == (
        "finetune",
        "partial",
        "lora",
        "scratch",
        "contrastive",
        "fresh",
    )
    sp = SearchSpace([ModelInfo("a", "image")], ["finetune", "partial"], [96])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(20):
        trial = study.ask()
        drawn.append(sp.overrides(sp.suggest(trial)))
        study.tell(trial, 0.0)
    mine = [o for o in drawn if o["strategy"] == "partial"]
    assert mine, "the sampler never drew the new strategy"
    assert all(2e-4 <= o["lr"] <= 2e-2 and o.get("unfreeze", 0) in (0, 1, 2, 4) for o in mine)


def test_a_new_strategy_is_explained_and_reported_with_no_other_edit(new_strategies):
    assert changes_the_source("partial") and not changes_the_source("fresh")
    note = what_transferred(_fit_record("partial"))
    assert note and "explain --run r1" in note[0].text
    assert what_transferred(_fit_record("fresh")) == []  # nothing of a source to analyse
    name, why = _source_of(_fit_record("fresh"))
    assert name is None and "fresh weights (fresh)" in why
    assert _source_of(_fit_record("partial")) == ("tiny-cnn", "")


def test_explain_reads_the_chosen_strategy_and_tolerates_unknown_names():
    chosen = _fit_record("linear-or-finetune", strategy_info={"chosen": "finetune"})
    assert what_transferred(chosen)  # the rule chose finetune, which trains the backbone
    assert what_transferred(_fit_record("linear")) == []
    assert what_transferred(_fit_record("gone-since")) == []  # a record of a removed plug-in
    assert _source_of(_fit_record("scratch"))[0] is None
